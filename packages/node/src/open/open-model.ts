/**
 * The one way to open a model: a training run, a folder written by `convlens import`, a tfjs layers or
 * graph model (folder, model.json or http(s) URL), a lab output folder, or a Keras .h5/.keras file. It
 * returns the model with everything that travels with it: input geometry, preprocessing, class names and
 * where its logits are. Every command, the lab and the server open models through here.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { tf } from '@convlens/core/engine/backend';
import { flattenNested } from '@convlens/core/models/flatten-nested';
import { wrappedGraph } from '@convlens/core/models/graph-layers';
import { type ScoreHead, scoreHead } from '@convlens/core/models/logits';
import {
  classNamesFromMetadata,
  defaultResize,
  describePreprocess,
  type Preprocess,
  type PresetName,
  parseRange,
  presetForRange,
  type ResizeMode,
} from '@convlens/core/preprocess/presets';
import { importModel, type SourceKind } from '../import/import-model.ts';
import { parseInputShape } from '../import/onnx-file.ts';
import { readPreprocess } from '../import/save-imported.ts';
import { type LoadedRun, loadRun } from '../train/load-run.ts';
import { readLabelsFile } from './labels.ts';

export type ModelKind = 'run' | 'imported' | SourceKind;

export interface OpenModelOptions {
  /** A labels file (JSON array, {"labels": [...]}, or one per line); overrides every other source. */
  labels?: string;
  /** Pixel range the model expects, 'LOW,HIGH' (overrides the stored preprocessing). */
  inputRange?: string;
  /** Preprocessing preset (overrides the stored preprocessing; 'range' needs inputRange). */
  preset?: PresetName;
  /** Resize policy for images of another size (default: the stored one, else by input size). */
  resize?: ResizeMode;
  /** Where one-line notices go (a guessed preprocessing, ignored labels). */
  log?: (s: string) => void;
  /** ONNX models with symbolic sizes: the input's dims, e.g. '3,224,224' (C,H,W) or '1,3,224,224'. */
  inputShape?: string;
}

export interface OpenedModel {
  /** As given. */
  source: string;
  kind: ModelKind;
  model: tf.LayersModel;
  /** [height, width, channels]. */
  inputShape: [number, number, number];
  numClasses: number;
  /** One per output unit: the model's own names, else '0', '1', … */
  classNames: string[];
  /** False when classNames are only indices. */
  named: boolean;
  /** How [0,1] pixels become the model's input (preset, range or standardizer, resize policy). */
  preprocess: Required<Pick<Preprocess, 'resize'>> & Preprocess;
  /** Where class scores are read: logits where the model has them (see core models/logits.ts). */
  scores: ScoreHead;
  /** A graph model wrapped as one layer: no internal layers to show. */
  graph: boolean;
  /** The training run, for runs (its dataset, split, history). */
  run?: LoadedRun;
  /** The folder holding model.json, when there is one on disk (the explorer serves it). */
  modelDir?: string;
  /** Frees the model's weights. */
  dispose(): void;
}

const SUPPORTED =
  'a run directory (run.json), a model folder or model.json (tfjs layers/graph), an http(s) URL, a Keras .h5 or .keras file, an ONNX .onnx file';

async function statOf(path: string) {
  return stat(path).catch(() => null);
}

/** Opens any supported model source; throws one line naming the source and the problem. */
export async function openModel(source: string, o: OpenModelOptions = {}): Promise<OpenedModel> {
  if (!source) throw new Error(`--model is required (${SUPPORTED})`);
  const url = /^https?:\/\//i.test(source);
  const ext = extname(source).toLowerCase();
  if (
    !url &&
    ext &&
    !['.json', '.h5', '.hdf5', '.keras', '.onnx'].includes(ext) &&
    !(await statOf(source))?.isDirectory()
  )
    throw new Error(`${source}: unsupported model format '${ext}' (expected ${SUPPORTED})`);
  if (!url && !(await statOf(source))) throw new Error(`${source}: model not found`);

  const runDir = url ? undefined : await findRunDir(source);
  if (runDir) return fromRun(source, runDir, o);
  const isDir = !url && (await statOf(source))?.isDirectory();
  if (isDir && !(await statOf(join(source, 'model.json')))?.isFile())
    throw new Error(`${source}: no model in this folder (no model.json or run.json; expected ${SUPPORTED})`);

  const imported = await importModel(source, {
    inputShape: o.inputShape ? parseInputShape(o.inputShape) : undefined,
  });
  // A model holding models as layers (transfer learning) becomes flat: every layer is then a layer.
  imported.model = flattenNested(imported.model);
  // Whatever is wrong with the model is found after its weights are loaded: free them before throwing.
  try {
    return await describeImported(source, imported, isDir ? source : url ? undefined : dirname(source), o);
  } catch (err) {
    imported.model.dispose();
    throw err;
  }
}

async function describeImported(
  source: string,
  imported: Awaited<ReturnType<typeof importModel>>,
  dir: string | undefined,
  o: OpenModelOptions,
): Promise<OpenedModel> {
  const stored = dir && imported.kind === 'tfjs' ? await readPreprocess(dir) : undefined;
  const meta = userMetadata(imported.model);
  const notes: string[] = [];
  const model = imported.model;
  const shape = imageShape(model, source);
  const storedPreprocess = stored ?? metadataPreprocess(meta);
  let base: Preprocess | undefined = storedPreprocess;
  if (!base && !o.preset && !o.inputRange) {
    // An ONNX model is most likely a PyTorch export: torchvision's ImageNet normalization.
    base =
      shape[2] === 3 ? { preset: imported.kind === 'onnx' ? 'torch' : 'scale-1-1' } : { preset: 'scale01' };
    notes.push(
      `notice: ${source} records no preprocessing; assuming ${describePreprocess(base)} (set --preset or --input-range)`,
    );
  }
  const names = await classNames(model, source, o, [stored?.classNames, imported.classNames]);
  const opened = finish(source, stored ? 'imported' : imported.kind, model, shape, base, names, o);
  if (dir && (imported.kind === 'tfjs' || stored)) opened.modelDir = dir;
  for (const n of notes) o.log?.(n);
  return opened;
}

/** RUN_DIR, RUN_DIR/model(/model.json) and a lab folder (LAB/run) all open the run. */
async function findRunDir(source: string): Promise<string | undefined> {
  const s = await statOf(source);
  const dir = s?.isDirectory() ? source : dirname(source);
  for (const candidate of [dir, join(dir, 'run'), basename(dir) === 'model' ? dirname(dir) : undefined]) {
    if (candidate && (await statOf(join(candidate, 'run.json')))?.isFile()) {
      // A model.json elsewhere in a run folder (an epoch snapshot) is a plain model, not the run.
      if (!s?.isDirectory() && resolve(dirname(source)) !== resolve(candidate, 'model')) return undefined;
      return candidate;
    }
  }
  return undefined;
}

async function fromRun(source: string, dir: string, o: OpenModelOptions): Promise<OpenedModel> {
  const run = await loadRun(dir);
  run.model = flattenNested(run.model);
  try {
    return await describeRun(source, run, dir, o);
  } catch (err) {
    run.model.dispose();
    throw err;
  }
}

async function describeRun(source: string, run: LoadedRun, dir: string, o: OpenModelOptions) {
  const base: Preprocess = run.config.standardizer
    ? { preset: 'per-pixel', standardizer: run.config.standardizer }
    : { preset: 'scale01' };
  const shape = imageShape(run.model, source);
  const names = await classNames(run.model, source, o, [run.config.classNames]);
  const opened = finish(source, 'run', run.model, shape, base, names, o);
  opened.run = run;
  opened.modelDir = join(dir, 'model');
  return opened;
}

function userMetadata(model: tf.LayersModel): unknown {
  try {
    return (model as { getUserDefinedMetadata?: () => unknown }).getUserDefinedMetadata?.();
  } catch {
    return undefined;
  }
}

function metadataPreprocess(meta: unknown): Preprocess | undefined {
  const p = (meta as { preprocess?: { preset?: string; range?: [number, number] } } | undefined)?.preprocess;
  if (!p?.preset) return undefined;
  return p.preset === 'range' && p.range ? presetForRange(p.range) : ({ preset: p.preset } as Preprocess);
}

function imageShape(model: tf.LayersModel, source: string): [number, number, number] {
  if (model.inputs.length !== 1)
    throw new Error(`${source}: the model has ${model.inputs.length} inputs; convlens needs one image input`);
  const shape = model.inputs[0].shape;
  const [, h, w, c] = shape;
  if (shape.length !== 4 || !h || !w || (c !== 1 && c !== 3))
    throw new Error(
      `${source}: the model's input [${shape.map((d) => d ?? 'None')}] is not an image (NHWC with 1 or 3 channels and a fixed size)`,
    );
  return [h, w, c];
}

async function classNames(
  model: tf.LayersModel,
  source: string,
  o: OpenModelOptions,
  candidates: (string[] | undefined)[],
): Promise<{ names: string[]; named: boolean; numClasses: number }> {
  const out = model.outputs[0].shape;
  const numClasses = out.length === 2 && out[1] ? out[1] : 0;
  if (!numClasses)
    throw new Error(
      `${source}: the model's output [${out.map((d) => d ?? 'None')}] is not one score per class`,
    );
  if (o.labels) {
    const names = await readLabelsFile(o.labels);
    if (names.length !== numClasses)
      throw new Error(`${o.labels}: ${names.length} class names for a model with ${numClasses} outputs`);
    return { names, named: true, numClasses };
  }
  for (const c of candidates) {
    if (!c) continue;
    if (c.length === numClasses) return { names: c, named: true, numClasses };
    o.log?.(`notice: ${source}: ${c.length} stored class names for ${numClasses} outputs; using indices`);
  }
  const meta = userMetadata(model) as { classNames?: unknown; labels?: unknown } | undefined;
  const fromMeta = classNamesFromMetadata(meta?.classNames ?? meta?.labels);
  if (fromMeta?.length === numClasses) return { names: fromMeta, named: true, numClasses };
  return { names: Array.from({ length: numClasses }, (_, i) => String(i)), named: false, numClasses };
}

function finish(
  source: string,
  kind: ModelKind,
  model: tf.LayersModel,
  inputShape: [number, number, number],
  stored: Preprocess | undefined,
  names: { names: string[]; named: boolean; numClasses: number },
  o: OpenModelOptions,
): OpenedModel {
  let p: Preprocess = stored ?? { preset: 'scale01' };
  if (o.inputRange) p = { ...presetForRange(parseRange(o.inputRange)), resize: p.resize };
  else if (o.preset === 'range') throw new Error('--preset range needs --input-range LOW,HIGH');
  else if (o.preset)
    p = {
      preset: o.preset,
      resize: p.resize,
      ...(o.preset === 'per-pixel' ? { standardizer: p.standardizer } : {}),
    };
  if (p.preset === 'per-pixel' && !p.standardizer)
    throw new Error(`${source}: preset per-pixel needs training statistics the model does not carry`);
  if ((p.preset === 'caffe' || p.preset === 'torch') && inputShape[2] !== 3)
    throw new Error(
      `${source}: preset ${p.preset} needs an RGB model, this one reads ${inputShape[2]} channel(s)`,
    );
  const resize = o.resize ?? p.resize ?? defaultResize(inputShape[0], inputShape[1]);
  // Class names travel as OpenedModel.classNames, not inside the preprocessing.
  const { classNames: _stored, ...rest } = p;
  const preprocess = { ...rest, resize };
  const graph = wrappedGraph(model) !== undefined;
  return {
    source,
    kind,
    model,
    inputShape,
    numClasses: names.numClasses,
    classNames: names.names,
    named: names.named,
    preprocess,
    scores: scoreHead(model),
    graph,
    dispose: () => model.dispose(),
  };
}
