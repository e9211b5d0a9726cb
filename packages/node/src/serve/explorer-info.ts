/**
 * What the browser app needs to know about the served model, built from a run directory or a bare
 * model.json: where the model is, its input shape and preprocessing, class names, and the optional
 * extras of a run (history, per-epoch snapshots, a stats run's top-k figures).
 *
 * Snapshot layouts (one tfjs layers model per epoch, N an integer, zero-padding optional):
 *   RUN_DIR/snapshots/epoch-<N>/model.json                  (any run)
 *   LAB_OUT/epochs/e<N>/model.json, LAB_OUT/run = RUN_DIR    (what `convlens lab` writes)
 * `--run LAB_OUT` is accepted for a lab folder and serves LAB_OUT/run.
 * Stats layout: RUN_DIR/stats/index.json as written by `convlens stats --out RUN_DIR/stats`.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { readJsonFile, readRunConfig } from '../train/run-dir.ts';

export type Preprocess =
  | { kind: 'range'; low: number; high: number }
  | { kind: 'standardize'; standardizer: unknown };

export interface ExplorerInfo {
  title: string;
  source: 'run' | 'model';
  /** URL of model.json (tfjs layers format). */
  modelUrl: string;
  inputShape: [number, number, number];
  classNames: string[] | null;
  /** How pixels in [0, 1] become model input. */
  preprocess: Preprocess;
  history: Record<string, unknown>[] | null;
  snapshots: { epoch: number; modelUrl: string }[];
  topK: { layer: string; url: string; filters: number }[];
}

export interface ServeSource {
  info: ExplorerInfo;
  /** Folder served at /files/model/. */
  modelDir: string;
  /** Folder served at /files/run/ (run dirs only). */
  runDir: string | null;
  /** Folder of the per-epoch snapshot folders, served at /files/snapshots/. */
  snapshotDir: string | null;
  /** The run's dataset (name or folder), for top-k patches. */
  dataset: string | null;
}

/** [h, w, c] from a tfjs layers model.json (Sequential or functional; Keras 2 or tfjs-saved). */
export function inputShapeFromTopology(json: any, file: string): [number, number, number] {
  const topo = json?.modelTopology;
  const cfg = topo?.model_config ?? topo;
  const layers = cfg?.config?.layers ?? (Array.isArray(cfg?.config) ? cfg.config : undefined);
  if (!Array.isArray(layers) || layers.length === 0) throw new Error(`${file}: not a tfjs layers model.json`);
  const first = layers[0]?.config ?? {};
  const shape = first.batch_input_shape ?? first.batchInputShape ?? first.batch_shape;
  if (
    !Array.isArray(shape) ||
    shape.length !== 4 ||
    shape.slice(1).some((d: unknown) => typeof d !== 'number')
  ) {
    throw new Error(
      `${file}: the explorer needs an image model with a fixed [h, w, c] input, got ${JSON.stringify(shape)}`,
    );
  }
  return shape.slice(1) as [number, number, number];
}

async function readModelJson(file: string): Promise<any> {
  const json = await readJsonFile<any>(file, 'model');
  if (!json?.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new Error(`${file}: not a tfjs layers model.json (no modelTopology/weightsManifest)`);
  }
  return json;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** The per-epoch snapshots of a run, in either layout (see the top of this file). */
async function findSnapshots(
  runDir: string,
): Promise<{ dir: string | null; list: ExplorerInfo['snapshots'] }> {
  const layouts: [string, RegExp][] = [
    [join(runDir, 'snapshots'), /^epoch-(\d+)$/],
    [join(dirname(runDir), 'epochs'), /^e(\d+)$/],
  ];
  for (const [dir, pattern] of layouts) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      continue;
    }
    const list: ExplorerInfo['snapshots'] = [];
    for (const n of names) {
      const m = pattern.exec(n);
      if (m && (await exists(join(dir, n, 'model.json')))) {
        list.push({ epoch: Number(m[1]), modelUrl: `/files/snapshots/${n}/model.json` });
      }
    }
    if (list.length > 0) return { dir, list: list.sort((a, b) => a.epoch - b.epoch) };
  }
  return { dir: null, list: [] };
}

async function findTopK(runDir: string): Promise<ExplorerInfo['topK']> {
  const file = join(runDir, 'stats', 'index.json');
  if (!(await exists(file))) return [];
  try {
    const index = JSON.parse(await readFile(file, 'utf8'));
    const figures: any[] = index.figures ?? index.files ?? [];
    return figures
      .filter((f) => f?.kind === 'top-k' && typeof f.file === 'string' && typeof f.layer === 'string')
      .map((f) => ({
        layer: f.layer,
        url: `/files/run/stats/${f.file}`,
        filters: Array.isArray(f.filters) ? f.filters.length : 0,
      }));
  } catch {
    return [];
  }
}

export async function sourceFromRun(runDir: string): Promise<ServeSource> {
  let dir = resolve(runDir);
  // A `convlens lab` output folder: its run is in run/.
  if (!(await exists(join(dir, 'run.json'))) && (await exists(join(dir, 'run', 'run.json')))) {
    dir = join(dir, 'run');
  }
  const config = await readRunConfig(dir);
  const modelFile = join(dir, 'model', 'model.json');
  const inputShape = inputShapeFromTopology(await readModelJson(modelFile), modelFile);
  let history: ExplorerInfo['history'] = null;
  try {
    const h = JSON.parse(await readFile(join(dir, 'history.json'), 'utf8'));
    history = Array.isArray(h) ? h : Array.isArray(h?.records) ? h.records : null;
  } catch {
    history = null;
  }
  const snapshots = await findSnapshots(dir);
  return {
    modelDir: join(dir, 'model'),
    runDir: dir,
    snapshotDir: snapshots.dir,
    dataset: config.dataset,
    info: {
      title: `${config.model} on ${config.dataset} (${basename(dir)})`,
      source: 'run',
      modelUrl: '/files/model/model.json',
      inputShape,
      classNames: config.classNames ?? Array.from({ length: config.numClasses }, (_, i) => String(i)),
      preprocess: config.standardizer
        ? { kind: 'standardize', standardizer: config.standardizer }
        : { kind: 'range', low: 0, high: 1 },
      history,
      snapshots: snapshots.list,
      topK: await findTopK(dir),
    },
  };
}

/**
 * A bare model.json. Class names come from metadata.json beside it ({labels: [...]}), when present.
 * Input range: given, else [-1, 1] for RGB models (Keras ImageNet convention, e.g. MobileNet's
 * x/127.5 − 1) and [0, 1] for grayscale ones.
 */
export async function sourceFromModel(modelJson: string, range?: [number, number]): Promise<ServeSource> {
  const file = resolve(modelJson);
  const inputShape = inputShapeFromTopology(await readModelJson(file), file);
  let classNames: string[] | null = null;
  const meta = join(dirname(file), 'metadata.json');
  if (await exists(meta)) {
    const m = await readJsonFile<any>(meta, 'model metadata');
    if (Array.isArray(m?.labels)) classNames = m.labels.map(String);
  }
  const [low, high] = range ?? (inputShape[2] === 3 ? [-1, 1] : [0, 1]);
  return {
    modelDir: dirname(file),
    runDir: null,
    snapshotDir: null,
    dataset: null,
    info: {
      title: basename(dirname(file)),
      source: 'model',
      modelUrl: `/files/model/${encodeURIComponent(relative(dirname(file), file))}`,
      inputShape,
      classNames,
      preprocess: { kind: 'range', low, high },
      history: null,
      snapshots: [],
      topK: [],
    },
  };
}
