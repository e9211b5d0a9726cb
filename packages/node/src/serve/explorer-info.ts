/**
 * What the browser app needs to know about the served model, built from openModel: where model.json
 * is served, its input shape, preprocessing and class names, and the optional extras of a training run
 * (history, per-epoch snapshots, a stats run's top-k figures).
 *
 * Models with no tfjs folder on disk (Keras .h5/.keras, http(s) URLs) are saved once as tfjs files in
 * a cache folder, which is then served; a Keras file is saved again only when it changes.
 *
 * Snapshot layouts (one tfjs layers model per epoch, N an integer, zero-padding optional):
 *   RUN_DIR/snapshots/epoch-<N>/model.json                  (any run)
 *   LAB_OUT/epochs/e<N>/model.json, LAB_OUT/run = RUN_DIR    (what `convlens lab` writes)
 * Stats layout: RUN_DIR/stats/index.json as written by `convlens stats --out RUN_DIR/stats`.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { ExplorerInfo } from '@convlens/core/explorer/protocol';
import { describePreprocess } from '@convlens/core/preprocess/presets';
import { MODEL_JSON, saveModel } from '../io/model-io.ts';
import { type OpenedModel, type OpenModelOptions, openModel } from '../open/open-model.ts';

export type { ExplorerInfo };

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

export interface ServeSourceOptions extends OpenModelOptions {
  /** Where models with no tfjs folder on disk are saved (default: $TMPDIR/convlens-serve). */
  cacheDir?: string;
}

async function exists(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null)) !== null;
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
      if (m && (await exists(join(dir, n, MODEL_JSON)))) {
        list.push({ epoch: Number(m[1]), modelUrl: `/files/snapshots/${n}/${MODEL_JSON}` });
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

async function readHistory(runDir: string): Promise<ExplorerInfo['history']> {
  try {
    const h = JSON.parse(await readFile(join(runDir, 'history.json'), 'utf8'));
    return Array.isArray(h) ? h : Array.isArray(h?.records) ? h.records : null;
  } catch {
    return null;
  }
}

/**
 * The folder holding the opened model's tfjs files and the model.json name in it: its own folder when
 * it has one, else a cache folder the model is saved into (keyed by the source, and for files by their
 * size and modification time, so an unchanged Keras file is converted once).
 */
async function servedModelFiles(m: OpenedModel, cacheDir?: string): Promise<{ dir: string; file: string }> {
  if (m.modelDir) {
    const s = await stat(m.source).catch(() => null);
    const file = s?.isFile() && extname(m.source).toLowerCase() === '.json' ? basename(m.source) : MODEL_JSON;
    return { dir: m.modelDir, file };
  }
  const url = /^https?:\/\//i.test(m.source);
  const s = url ? null : await stat(m.source);
  const key = url ? m.source : `${resolve(m.source)}\n${s?.size}\n${s?.mtimeMs}`;
  const dir = join(
    cacheDir ?? join(tmpdir(), 'convlens-serve'),
    createHash('sha256').update(key).digest('hex').slice(0, 16),
  );
  // URLs are saved again on every start: the remote model may have changed.
  if (url || !(await exists(join(dir, MODEL_JSON)))) await saveModel(m.model, dir);
  return { dir, file: MODEL_JSON };
}

/** A short title: the folder of a model.json, a Keras file without its extension, a URL as given. */
function modelName(source: string): string {
  if (/^https?:\/\//i.test(source)) return source;
  const path = source.replace(/[\\/]+$/, '');
  const ext = extname(path).toLowerCase();
  if (ext === '.json')
    return basename(path) === MODEL_JSON ? basename(dirname(resolve(path))) : basename(path, extname(path));
  if (['.h5', '.hdf5', '.keras'].includes(ext)) return basename(path, extname(path));
  return basename(resolve(path));
}

/** The explorer's view of an opened model (the model itself is not kept: the browser loads its files). */
export async function sourceFromOpened(
  m: OpenedModel,
  o: { cacheDir?: string; notices?: string[] } = {},
): Promise<ServeSource> {
  const files = await servedModelFiles(m, o.cacheDir);
  const run = m.run;
  const snapshots = run ? await findSnapshots(run.dir) : { dir: null, list: [] };
  const name = modelName(m.source);
  return {
    modelDir: files.dir,
    runDir: run?.dir ?? null,
    snapshotDir: snapshots.dir,
    dataset: run?.config.dataset ?? null,
    info: {
      title: run ? `${run.config.model} on ${run.config.dataset} (${basename(run.dir)})` : name,
      source: run ? 'run' : 'model',
      kind: m.kind,
      modelUrl: `/files/model/${encodeURIComponent(files.file)}`,
      inputShape: m.inputShape,
      classNames: m.classNames,
      named: m.named,
      preprocess: m.preprocess,
      preprocessText: describePreprocess(m.preprocess),
      scores: { kind: m.scores.kind, from: m.scores.from },
      notices: o.notices ?? [],
      history: run ? await readHistory(run.dir) : null,
      snapshots: snapshots.list,
      topK: run ? await findTopK(run.dir) : [],
    },
  };
}

/**
 * Opens any model source openModel takes (run dir, import folder, tfjs model.json/folder/URL, Keras
 * .h5/.keras) for serving. Needs a tfjs backend started (any: the server never runs the model).
 */
export async function openServeSource(source: string, o: ServeSourceOptions = {}): Promise<ServeSource> {
  const notices: string[] = [];
  const m = await openModel(source, {
    ...o,
    log: (s) => {
      notices.push(s.replace(/^notice: /, ''));
      o.log?.(s);
    },
  });
  try {
    return await sourceFromOpened(m, { cacheDir: o.cacheDir, notices });
  } finally {
    m.dispose();
  }
}
