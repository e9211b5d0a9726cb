/**
 * The lab on a model it does not train: any model source (openModel) and any dataset (openDataset),
 * the settings sized for that model, and the identity the stage keys hash — the model's fingerprint
 * (architecture and weights), its preprocessing and class names, and the dataset's listing (files,
 * sizes, modification times, labels), so a changed model or folder recomputes and nothing else does.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { extname, relative, resolve } from 'node:path';
import { newLabels } from '@convlens/core/data/split';
import { modelFingerprint } from '@convlens/core/inspect/fingerprint';
import { MODEL_NAMES } from '@convlens/core/models/zoo';
import { describePreprocess } from '@convlens/core/preprocess/presets';
import { type OpenedDataset, openDataset } from '../open/open-dataset.ts';
import { type OpenedModel, openModel } from '../open/open-model.ts';
import { chooseFeatureLayers } from './pretrained-layers.ts';
import type { LabOptions } from './settings.ts';

export interface PretrainedSettings {
  source: string;
  kind: string;
  fingerprint: string;
  inputShape: [number, number, number];
  numClasses: number;
  /** Whether the model carries class names (else they are indices). */
  named: boolean;
  /** A hash of the class names (they label every figure). */
  classNames: string;
  preprocess: string;
  /** Where class scores are read: 'logits at conv_preds', 'probabilities (output)'. */
  scores: string;
  dataset: { name: string; kind: string; description: string; count: number; listing: string };
  /** Images of the dataset the lab uses (all, or --limit evenly spaced ones). */
  images: number;
  limit?: number;
  /** Big: an input over 64 px a side (ImageNet-size); sizes below are bounded for it. */
  big: boolean;
  /** Layers shown inside the network: feature maps and statistics (each conv after its norm and activation). */
  layers: string[];
  /** The same convs before their activation: where units are maximized. */
  unitLayers: string[];
  /** Where each shown layer's kernels are drawn: its own conv, or the spatial conv feeding a 1×1 one. */
  filterLayers: string[];
  /** Dataset images whose feature maps are shown. */
  fmapImages: number;
  /** Images streamed for class statistics, mode maps and top-k patches. */
  statsImages: number;
  topK: number;
  /** Channels per layer in feature-map, statistics and patch figures. */
  maxChannels: number;
  /** Classes maximized (model class indices) and why these. */
  classes: number[];
  classesWhy: string;
  actmaxSteps: number;
  /** Steps of the unit maximizations (a unit's small receptive field settles sooner than a class). */
  unitSteps: number;
  /** Units maximized per shown layer. */
  filtersPerLayer: number;
  /** Dataset images explained by every method. */
  explainImages: number;
  faithfulnessImages: number;
  faithfulnessSteps: number;
  /** Perturbation samples of LIME and KernelSHAP. */
  samplingSamples: number;
  /** Model-randomization sanity check images (0 = skipped: dozens of re-explanations per method). */
  sanityImages: number;
}

export interface PretrainedInputs {
  model: OpenedModel;
  /** The images the lab uses (all, or --limit of them): image i is the whole dataset's indices[i]. */
  data: OpenedDataset;
  /** The dataset as opened. */
  full: OpenedDataset;
  /** Whole-dataset index of each used image. */
  indices: number[];
  settings: PretrainedSettings;
  dispose(): void;
}

/** Zoo names are trained by the lab; anything else is a model to open. */
export const isZooModel = (name: string | undefined) =>
  name === undefined || (MODEL_NAMES as readonly string[]).includes(name);

const short = (n: string) => n.split(',')[0].trim();
const norm = (s: string) =>
  s
    .toLowerCase()
    .replace(/[_\s]+/g, ' ')
    .trim();

/** The lecture's classes, when the model has ImageNet's names. */
const LECTURE_CLASSES = ['dumbbell', 'cup', 'dalmatian'];

/** --classes as model indices: indices or names (any comma-free synonym, case and _ ignored). */
export function parseClasses(wanted: string[], names: string[]): number[] {
  return wanted.map((w) => {
    const t = w.trim();
    if (/^\d+$/.test(t)) {
      const i = Number(t);
      if (i >= names.length)
        throw new Error(`--classes: class ${i} is out of range (the model has ${names.length} classes)`);
      return i;
    }
    const i = names.findIndex((n) => norm(n) === norm(t) || n.split(',').some((s) => norm(s) === norm(t)));
    if (i < 0) throw new Error(`--classes: '${t}' is not one of the model's class names`);
    return i;
  });
}

function defaultClasses(m: OpenedModel, data: OpenedDataset) {
  if (m.named) {
    const found = parseClassesOrEmpty(LECTURE_CLASSES, m.classNames);
    if (found.length === LECTURE_CLASSES.length)
      return { classes: found, why: 'the lecture’s dumbbell, cup and dalmatian (ImageNet classes)' };
  }
  if (m.numClasses <= 10)
    return { classes: Array.from({ length: m.numClasses }, (_, i) => i), why: 'every class of the model' };
  if (data.labelled) {
    const present = [...new Set(data.labels)].sort((a, b) => a - b).slice(0, 10);
    return { classes: present, why: 'the dataset’s classes (up to 10)' };
  }
  return { classes: Array.from({ length: 10 }, (_, i) => i), why: 'the model’s first 10 classes' };
}

function parseClassesOrEmpty(wanted: string[], names: string[]): number[] {
  try {
    return parseClasses(wanted, names);
  } catch {
    return [];
  }
}

/** Evenly spaced indices: --limit keeps every class of a class-sorted listing. */
export function spread(count: number, limit?: number): number[] {
  const n = limit === undefined ? count : Math.min(limit, count);
  return Array.from({ length: n }, (_, i) => Math.floor((i * count) / n));
}

/**
 * The images `indices` of `d` as a dataset of their own (image i = d's indices[i]); an image folder's
 * images named by their path inside it (figures say "espresso/coffee-03.png", not a path from the cwd).
 */
export function subsetDataset(d: OpenedDataset, indices: number[]): OpenedDataset {
  const root = resolve(d.name);
  const name = (i: number) =>
    d.kind === 'image-folder' ? relative(root, resolve(d.source(i))) : d.source(i);
  const map = Uint32Array.from(indices);
  const labels = newLabels(d.labels, map.length);
  map.forEach((v, i) => {
    labels[i] = d.labels[v];
  });
  const read = async (idx: ArrayLike<number>) => {
    const local = Uint32Array.from(idx);
    for (const i of local)
      if (!(i < map.length)) throw new Error(`image index ${i} is out of range: ${map.length} images used`);
    const chunk = await d.read(Array.from(local, (i) => map[i]));
    // Back to local indices: the kept images in order (corrupt ones dropped by the dataset).
    const back = new Map(Array.from(local, (i) => [map[i], i] as [number, number]));
    return { set: chunk.set, indices: Uint32Array.from(chunk.indices, (g) => back.get(g)!) };
  };
  return {
    ...d,
    count: map.length,
    labels,
    whole: undefined,
    source: (i) => name(map[i]),
    read,
    async *chunks(idx, size = 256) {
      const all = idx ? Uint32Array.from(idx) : Uint32Array.from({ length: map.length }, (_, i) => i);
      for (let s = 0; s < all.length; s += size) yield read(all.subarray(s, s + size));
    },
  };
}

/** A hash of what the dataset holds: per image its file (size, mtime) or IDX position, and its label. */
async function listingHash(d: OpenedDataset): Promise<string> {
  const h = createHash('sha256').update(JSON.stringify([d.kind, d.name, d.count, d.labelled]));
  if (d.kind === 'image-folder') {
    const root = resolve(d.name);
    for (let i = 0; i < d.count; i++) {
      const path = resolve(d.source(i));
      const st = await stat(path).catch(() => undefined);
      h.update(`${relative(root, path)}\0${st?.size}\0${st?.mtimeMs}\0${d.labels[i]}\n`);
    }
  } else {
    h.update(d.description);
    h.update(new Uint8Array(d.labels.buffer, d.labels.byteOffset, d.labels.byteLength));
  }
  return h.digest('hex').slice(0, 16);
}

/** Opens the model and dataset; throws one line (before anything is written) when either is wrong. */
export async function openPretrained(o: LabOptions, log: (s: string) => void): Promise<PretrainedInputs> {
  const source = o.model!;
  if (o.epochs !== undefined)
    throw new Error(
      `--epochs: the lab trains only zoo models (${MODEL_NAMES.join(', ')}); ${source} is used as it is`,
    );
  const bare = !source.includes('/') && !extname(source) && !(await stat(source).catch(() => undefined));
  if (bare)
    throw new Error(
      `unknown model '${source}': not a zoo model (${MODEL_NAMES.join(', ')}) nor a model file or folder`,
    );
  const model = await openModel(source, { ...o.openModel, log });
  try {
    if (model.graph)
      throw new Error(
        `${source}: graph model: no layers to look inside; import it as a layers model (convlens import)`,
      );
    const data = await openDataset(o.dataset, model, { ...o.openDataset, log });
    if (data.count === 0) throw new Error(`--dataset ${data.name}: no images`);
    const indices = spread(data.count, o.limit);
    const used = subsetDataset(data, indices);
    const [h, w] = model.inputShape;
    const big = Math.min(h, w) > 64;
    const quick = !!o.quick;
    const choice = chooseFeatureLayers(model.model, o.layers);
    const cls = o.classes?.length
      ? { classes: parseClasses(o.classes, model.classNames), why: 'chosen with --classes' }
      : defaultClasses(model, used);
    const settings: PretrainedSettings = {
      source,
      kind: model.kind,
      fingerprint: modelFingerprint(model.model),
      inputShape: model.inputShape,
      numClasses: model.numClasses,
      named: model.named,
      classNames: createHash('sha256').update(JSON.stringify(model.classNames)).digest('hex').slice(0, 16),
      preprocess: `${describePreprocess(model.preprocess)}; images of another size: ${model.preprocess.resize === 'crop' ? 'shorter side resized, centre crop' : 'stretched'}`,
      scores:
        model.scores.kind === 'logits'
          ? `logits (layer ${model.scores.from})`
          : 'probabilities (no pre-softmax layer found)',
      dataset: {
        name: data.name,
        kind: data.kind,
        description: data.description,
        count: data.count,
        listing: await listingHash(data),
      },
      images: indices.length,
      limit: o.limit,
      big,
      layers: choice.layers,
      unitLayers: choice.unitLayers,
      filterLayers: choice.filterLayers,
      fmapImages: quick ? 1 : 2,
      statsImages: Math.min(indices.length, big ? (quick ? 64 : 400) : quick ? 300 : 2000),
      topK: 9,
      maxChannels: big ? 16 : 32,
      classes: cls.classes,
      classesWhy: cls.why,
      actmaxSteps: quick ? 32 : 128,
      unitSteps: quick ? 32 : big ? 64 : 128,
      filtersPerLayer: quick ? 1 : big ? 2 : 4,
      explainImages: Math.min(indices.length, quick ? 2 : big ? 3 : 5),
      faithfulnessImages: Math.min(indices.length, quick ? 2 : big ? 4 : 20),
      faithfulnessSteps: big ? 16 : 20,
      samplingSamples: quick ? 64 : big ? 100 : 200,
      sanityImages: big ? 0 : quick ? 1 : 4,
    };
    return {
      model,
      data: used,
      full: data,
      indices,
      settings,
      dispose: () => model.dispose(),
    };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** The class name for figures: the first synonym of an ImageNet name. */
export const className = (m: OpenedModel, c: number) => (m.named ? short(m.classNames[c]) : String(c));
