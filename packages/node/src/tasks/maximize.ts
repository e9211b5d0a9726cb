/**
 * Activation maximization of any model: classes (indices or names, on logits), conv filters or dense
 * units, optionally swept over total-variation weights. Small grey models get keras-vis's recipe, RGB
 * and larger ones Lucid's (core actmax/defaults.ts); every setting can be overridden.
 *
 * Writes, per result, a captioned figure and the synthesized input itself at the model's size:
 * inputs/NAME.png (pixels, 8-bit) and inputs/NAME.npy (the float model input), with the probability the
 * model gives the target for each; inputs/labels.csv makes the folder a labelled dataset for another
 * model. Every input is checked before any computation (a bad input leaves no files); files are written
 * atomically, index.json last.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type BackendName, initBackend, tf } from '@convlens/core/engine/backend';
import type { JobHooks } from '@convlens/core/jobs/job';
import {
  ACTMAX_STYLES,
  type ActmaxStyle,
  actmaxStyle,
  STYLE_DEFAULTS,
} from '@convlens/core/methods/actmax/defaults';
import { encodeNpy, parseNpy } from '@convlens/core/methods/actmax/npy';
import {
  describeObjective,
  type Objective,
  type Term,
  validateObjectives,
} from '@convlens/core/methods/actmax/objective';
import { parseObjective } from '@convlens/core/methods/actmax/objective-parse';
import {
  checkStartImage,
  type MaximizeOptions,
  meanPairwiseCosine,
} from '@convlens/core/methods/actmax/optimize';
import type { ParameterizationName } from '@convlens/core/methods/actmax/parameterization';
import { sweepTv } from '@convlens/core/methods/actmax/sweep';
import { pickLayer } from '@convlens/core/methods/explain/common';
import { resolveLayerName } from '@convlens/core/models/layer-aliases';
import { applyPreprocess, describePreprocess, invertPreprocess } from '@convlens/core/preprocess/presets';
import { actmaxToRGBA, type LabelledGrid, labelledGrid } from '@convlens/core/render/actmax-grid';
import { type RGBAImage, upscale } from '@convlens/core/render/image';
import type { OptimizerName } from '@convlens/core/train/optimizers';
import sharp from 'sharp';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { labelledPanel, readImage, toRgba, writePng } from '../io/png.ts';
import { parseClassList, shortClassName } from '../open/class-lookup.ts';
import type { OpenDatasetOptions } from '../open/open-dataset.ts';
import { type OpenedModel, openModel } from '../open/open-model.ts';
import { type NeuronGroups, neuronGroups } from './neuron-groups.ts';

export interface MaximizeTaskOptions {
  /** Class indices and/or names, comma-separated, or 'all'. */
  class?: string;
  layer?: string;
  filter?: number[];
  unit?: number[];
  position?: [number, number];
  together?: boolean;
  weights?: number[];
  minimize?: boolean;
  probability?: boolean;
  /** Which defaults fill the unset settings (default auto: by the model's input, see actmaxStyle). */
  style?: ActmaxStyle | 'auto';
  tv?: number;
  sweepTv?: number[];
  lp?: number;
  steps?: number;
  lr?: number;
  optimizer?: OptimizerName;
  jitter?: number;
  scale?: number;
  rotate?: number;
  blurEvery?: number;
  blurSigma?: number;
  param?: ParameterizationName;
  /** Fourier spectrum decay: 1/f^decay (Lucid's decay_power). */
  decay?: number;
  /** Start-noise amplitude, a fraction of the pixel range. */
  noise?: number;
  seed?: number;
  /**
   * Objective expressions (core actmax/objective-parse.ts), one image each, e.g.
   * "channel:conv_pw_13_relu:12 + 0.5*class:3 - neuron:dense:4"; instead of --class/--filter/--unit.
   */
  objective?: string[];
  /** Diversity: this many images per target, with Lucid's Gram-matrix penalty among them. */
  diversity?: number;
  /** Weight of the diversity penalty (default 20). */
  diversityWeight?: number;
  /** Layer of the diversity penalty (default: the target's layer, else the last spatial layer). */
  diversityLayer?: string;
  /** Neuron groups: NMF of --layer's activations over a dataset sample into this many groups, one image each. */
  groups?: number;
  /** Dataset for --groups (default: the run's held-out data) and its options. */
  dataset?: string;
  datasetOptions?: OpenDatasetOptions;
  /** Images sampled for --groups (default 32). */
  groupImages?: number;
  /** A PNG/JPEG… (pixels, resized like any image for the model) or a .npy (a float model input, as written here). */
  start?: string;
  out: string;
}

// A type alias, not an interface: readers may treat entries as plain records.
export type MaximizeFile = {
  /** The captioned figure. */
  file: string;
  /** The synthesized input at the model's size: 8-bit pixels (PNG) and the float model input (.npy). */
  input: { png: string; npy: string };
  target: string;
  terms: Term[];
  minimize: boolean;
  row: number;
  col: number;
  tvWeight: number;
  objective: number;
  targetClass: number | null;
  className: string | null;
  /** Softmax probability of the target class for the .npy input (what was optimized). */
  targetProbability: number | null;
  /** The same for the PNG read back (8-bit quantization changes it slightly). */
  pngProbability: number | null;
  predicted: number;
  predictedName: string;
  totalVariation: number;
  curve: number[];
};

export interface MaximizeIndex {
  model: string;
  kind: OpenedModel['kind'];
  architecture: string;
  inputShape: [number, number, number];
  preprocess: string;
  /** Where class scores were read: logits (and which layer) or only probabilities. */
  scores: { kind: 'logits' | 'probs'; from: string };
  style: ActmaxStyle;
  grid: string;
  rows: string[];
  tvWeights: number[];
  options: Record<string, unknown>;
  files: MaximizeFile[];
  /** Set when a stop request ended the optimization early: results are as of that step. */
  stopped: boolean;
  /** With --diversity: the penalty's layer and weight, and per target the mean pairwise cosine of the copies' activations there. */
  diversity?: { copies: number; weight: number; layer: string; meanCosine: number[] };
  /** With --groups: the neuron groups visualized (row k is group k). */
  groups?: NeuronGroups;
  summary: {
    meanTotalVariation: number[];
    atLeast0_9: number[];
    classCells: number;
    optimizeSeconds: number;
    wallSeconds: number;
    stepsPerSecond: number;
    batch: number;
  };
}

/**
 * The objectives the options ask for: one per class/filter/unit, or one weighted sum with `together`.
 * Class terms read logits unless `probability` (or the model has none: `logits` false).
 */
export function objectivesFromOptions(
  o: MaximizeTaskOptions,
  classNames: string[],
  logits = true,
): Objective[] {
  const picks = [o.class !== undefined, o.filter !== undefined, o.unit !== undefined].filter(Boolean).length;
  if (picks !== 1)
    throw new Error('give exactly one of --class, --layer with --filter, or --layer with --unit');
  let terms: Term[];
  if (o.class !== undefined) {
    if (o.layer !== undefined) throw new Error('--layer goes with --filter or --unit, not --class');
    const space = o.probability || !logits ? 'probability' : 'logit';
    terms = parseClassList(o.class, classNames).map((index) => ({ kind: 'class', index, space }));
  } else {
    if (o.layer === undefined) throw new Error(`--${o.filter ? 'filter' : 'unit'} needs --layer`);
    const layer = o.layer;
    terms = o.filter
      ? o.filter.map((index) => ({
          kind: 'filter',
          layer,
          index,
          ...(o.position ? { position: o.position } : {}),
        }))
      : o.unit!.map((index) => ({ kind: 'unit', layer, index }));
  }
  if (o.position && o.filter === undefined) throw new Error('--position applies to --filter only');
  if (o.weights) {
    if (!o.together) throw new Error('--weights needs --together (weights of one combined objective)');
    if (o.weights.length !== terms.length)
      throw new Error(`--weights has ${o.weights.length} values for ${terms.length} targets`);
    terms = terms.map((t, i) => ({ ...t, weight: o.weights![i] }));
  }
  const minimize = !!o.minimize;
  return o.together ? [{ terms, minimize }] : terms.map((t) => ({ terms: [t], minimize }));
}

/** A file-name-safe name: class-3, class-543-dumbbell, conv2-f5, dense1-u7, class-1+class-7. */
function slug(o: Objective, classNames: string[], named: boolean): string {
  const one = (t: Term) =>
    t.kind === 'class'
      ? `class-${t.index}`
      : t.kind === 'filter'
        ? `${t.layer}-f${t.index}${t.position ? `@${t.position.join('-')}` : ''}`
        : t.kind === 'direction'
          ? `${t.layer}-dir`
          : `${t.layer}-u${t.index}`;
  if (o.terms.length === 0 || o.products?.length) {
    const parts = [...o.terms, ...(o.products ?? []).flatMap((p) => p.factors)].map(one);
    return `${o.minimize ? 'min-' : ''}${parts.join(o.terms.length ? '+' : 'x')}`
      .replace(/[^\w.+-]+/g, '_')
      .slice(0, 120);
  }
  const t = o.terms[0];
  const short = t.kind === 'class' && named ? shortClassName(classNames[t.index]) : String(t.index);
  const name = o.terms.length === 1 && short !== String(t.index) ? `-${short}` : '';
  return `${o.minimize ? 'min-' : ''}${o.terms.map(one).join('+')}${name}`
    .replace(/[^\w.+-]+/g, '_')
    .slice(0, 120);
}

/** A start file as [0, 1] pixels at the model's size. */
async function readStart(path: string, m: OpenedModel): Promise<Float32Array> {
  const [h, w, c] = m.inputShape;
  if (path.toLowerCase().endsWith('.npy')) {
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err: any) {
      throw new Error(
        `--start ${path}: cannot read (${err.code === 'ENOENT' ? 'file not found' : err.code})`,
      );
    }
    const x = parseNpy(new Uint8Array(bytes), `--start ${path}`).data;
    try {
      checkStartImage(x, h, w, c);
    } catch (err: any) {
      throw new Error(`--start ${path}: ${err.message}`);
    }
    // A model input (what this task writes): back to pixels through the model's preprocessing.
    return invertPreprocess(m.preprocess, x, c);
  }
  const img = await readImage(path, {
    width: w,
    height: h,
    channels: c as 1 | 3,
    resize: m.preprocess.resize,
  });
  return img.pixels;
}

/** Draws a grid's labels with SVG (sharp/librsvg) over its raster. */
async function drawLabels(g: LabelledGrid): Promise<RGBAImage> {
  const esc = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const text = g.labels
    .map(
      (l) =>
        `<text x="${l.x}" y="${l.y}" text-anchor="${l.anchor}"${l.bold ? ' font-weight="bold"' : ''}>${esc(l.text)}</text>`,
    )
    .join('');
  const { width, height } = g.image;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><g font-family="DejaVu Sans, sans-serif" font-size="${g.fontSize}" fill="#222">${text}</g></svg>`;
  const raw = Buffer.from(g.image.data.buffer, g.image.data.byteOffset, g.image.data.byteLength);
  return toRgba(
    sharp(raw, { raw: { width, height, channels: 4 } }).composite([
      { input: Buffer.from(svg), left: 0, top: 0 },
    ]),
  );
}

/** Model input → the 8-bit pixels a PNG holds (as [0, 1] floats k/255), through the model's preprocessing. */
export function quantizedPixels(m: OpenedModel, input: Float32Array): Float32Array {
  const px = invertPreprocess(m.preprocess, input, m.inputShape[2]);
  for (let i = 0; i < px.length; i++) px[i] = Math.round(Math.min(1, Math.max(0, px[i])) * 255) / 255;
  return px;
}

/** Softmax probabilities (the model's output) for images given as [0, 1] pixels. */
function probabilitiesOf(m: OpenedModel, pixels: Float32Array[]): number[][] {
  const [h, w, c] = m.inputShape;
  const out: number[][] = [];
  for (let i = 0; i < pixels.length; i += 16) {
    const part = pixels.slice(i, i + 16);
    const x = new Float32Array(part.length * h * w * c);
    for (const [k, p] of part.entries()) x.set(applyPreprocess(m.preprocess, p, c), k * h * w * c);
    const y = tf.tidy(() => m.model.predict(tf.tensor4d(x, [part.length, h, w, c])) as tf.Tensor);
    const probs = y.dataSync();
    y.dispose();
    const k = probs.length / part.length;
    for (let j = 0; j < part.length; j++) out.push(Array.from(probs.subarray(j * k, (j + 1) * k)));
  }
  return out;
}

async function encodeRawPng(pixels: Float32Array, h: number, w: number, c: number): Promise<Buffer> {
  const bytes = Buffer.alloc(pixels.length);
  for (let i = 0; i < pixels.length; i++) bytes[i] = Math.round(pixels[i] * 255);
  return sharp(bytes, { raw: { width: w, height: h, channels: c as 1 | 3 } })
    .png()
    .toBuffer();
}

const round = (x: number, digits = 4) => Number(x.toPrecision(digits));

export async function maximizeTask(
  m: OpenedModel,
  o: MaximizeTaskOptions,
  hooks: JobHooks = {},
): Promise<MaximizeIndex> {
  const log = (s: string) => hooks.log?.(s);
  if (m.graph && (o.filter || o.unit))
    throw new Error(
      `${m.source}: graph model: no layers to maximize filters or units of; import it as a layers model, or maximize --class`,
    );
  const logits = m.scores.kind === 'logits';
  if (!logits && o.class !== undefined && !o.probability)
    log(`notice: ${m.source}: no pre-softmax scores found; maximizing the softmax probability instead`);
  // An alias (PyTorch module name) becomes the layer's own name, so files and captions agree with it.
  const layer = o.layer === undefined ? undefined : resolveLayerName(m.model, o.layer);
  let groups: NeuronGroups | undefined;
  let baseObjectives: Objective[];
  if (o.objective !== undefined || o.groups !== undefined) {
    if (o.class !== undefined || o.filter !== undefined || o.unit !== undefined)
      throw new Error('--objective and --groups replace --class, --filter and --unit');
    if (o.objective !== undefined && o.groups !== undefined)
      throw new Error('give --objective or --groups, not both');
  }
  if (o.objective !== undefined) {
    const space = o.probability || !logits ? 'probability' : 'logit';
    baseObjectives = o.objective.map((text) => ({
      ...parseObjective(text, m.model, {
        space,
        classIndex: (c) => {
          const list = parseClassList(c, m.classNames, '--objective');
          if (list.length !== 1)
            throw new Error(`--objective: 'class:${c}' names ${list.length} classes, not one`);
          return list[0];
        },
      }),
      minimize: !!o.minimize,
    }));
  } else if (o.groups !== undefined) {
    if (layer === undefined) throw new Error('--groups needs --layer');
    groups = await neuronGroups(m, layer, o.groups, {
      dataset: o.dataset,
      datasetOptions: o.datasetOptions,
      count: o.groupImages,
      seed: o.seed,
    });
    log(
      `neuron groups of ${groups.layer}: NMF of ${groups.images} images' activations into ${o.groups} groups (error ${groups.relativeError})`,
    );
    // Each group at the centre position of a conv layer (Lucid's direction_neuron), as for neurons.
    const shape = (m.model.getLayer(groups.layer).outputShape as number[]).slice(1);
    const position: [number, number] | undefined =
      shape.length === 3 ? [Math.floor(shape[0] / 2), Math.floor(shape[1] / 2)] : undefined;
    baseObjectives = groups.directions.map((vector) => ({
      terms: [
        { kind: 'direction', layer: groups!.layer, index: 0, vector, ...(position ? { position } : {}) },
      ],
      minimize: !!o.minimize,
    }));
  } else baseObjectives = objectivesFromOptions({ ...o, layer }, m.classNames, logits);
  const copies = o.diversity ?? 1;
  if (!(Number.isInteger(copies) && copies >= 1))
    throw new Error(`--diversity must be a positive integer, got ${copies}`);
  if (copies > 1 && o.sweepTv) throw new Error('--diversity and --sweep-tv cannot be combined');
  const objectives = baseObjectives.flatMap((ob) => new Array<Objective>(copies).fill(ob));
  validateObjectives(m.model, objectives);
  // The diversity layer: asked for, else the first layer a target reads, else the last spatial layer.
  const firstLayer = (ob: Objective) =>
    [...ob.terms, ...(ob.products ?? []).flatMap((p) => p.factors)].find((t) => t.kind !== 'class') as
      | { layer: string }
      | undefined;
  const diversityLayer =
    copies > 1
      ? o.diversityLayer !== undefined
        ? resolveLayerName(m.model, o.diversityLayer)
        : (firstLayer(baseObjectives[0])?.layer ?? pickLayer(m.model).layer.name)
      : undefined;
  // 20, not Lucid's 100: on MobileNet 0.25 (conv_pw_11_relu channel 12, 64 steps) 100 left one copy at a
  // tenth of the others' activation; 20 kept all three within 2× while their cosine fell from 1 to 0.69.
  const diversityWeight = o.diversityWeight ?? 20;
  if (o.style !== undefined && o.style !== 'auto' && !ACTMAX_STYLES.includes(o.style))
    throw new Error(`unknown style '${o.style}' (valid: auto, ${ACTMAX_STYLES.join(', ')})`);
  const style = !o.style || o.style === 'auto' ? actmaxStyle(m.inputShape) : o.style;
  const d = STYLE_DEFAULTS[style];
  const start = o.start ? await readStart(o.start, m) : undefined;
  if (o.sweepTv && o.tv !== undefined && o.tv !== d.tvWeight)
    throw new Error('--tv and --sweep-tv cannot be combined');
  const tvWeights = o.sweepTv ?? [o.tv ?? d.tvWeight];
  const [h, w, c] = m.inputShape;
  const settings = {
    steps: o.steps ?? d.steps,
    // CPPN weights move the whole image at once: Lucid's CPPN notebook optimizes them at 0.005.
    learningRate: o.lr ?? ((o.param ?? d.parameterization) === 'cppn' ? 0.005 : d.learningRate),
    optimizer: o.optimizer ?? d.optimizer,
    lpWeight: o.lp ?? d.lpWeight,
    jitter: o.jitter ?? d.jitter,
    scale: o.scale ?? d.scale,
    rotate: o.rotate ?? d.rotate,
    blurEvery: o.blurEvery ?? d.blurEvery,
    blurSigma: o.blurSigma ?? d.blurSigma,
    parameterization: o.param ?? d.parameterization,
    decay: o.decay ?? d.decay,
    noise: o.noise ?? d.noise,
    seed: o.seed ?? 0,
  };
  const options: MaximizeOptions = {
    ...settings,
    start,
    preprocess: m.preprocess,
    // Copies start from their own noise even at weight 0: that is the baseline the penalty is judged against.
    ...(copies > 1 ? { diversity: diversityWeight, diversityLayer, distinctStarts: true } : {}),
    ...(settings.parameterization === 'cppn' ? { cppnHidden: 24, cppnLayers: 8 } : {}),
  };
  const named = (k: number) => (m.named ? shortClassName(m.classNames[k] ?? String(k)) : String(k));
  const classTerm = (ob: Objective) =>
    ob.terms.length === 1 && ob.terms[0].kind === 'class' ? ob.terms[0] : undefined;
  const labels = objectives.map((ob, row) => {
    const copy = copies > 1 ? ` #${(row % copies) + 1}` : '';
    // The layer goes in the figure's title: a per-tile 'of LAYER' overflows narrow tiles.
    if (groups) return `group ${Math.floor(row / copies)}${copy}`;
    const t = classTerm(ob);
    // MNIST's names are its indices: "class 3", not "class 3 (3)".
    return t && named(t.index) !== String(t.index)
      ? `${describeObjective(ob)} (${named(t.index)})${copy}`
      : `${describeObjective(ob)}${copy}`;
  });
  log(
    `maximizing ${objectives.length} target${objectives.length > 1 ? 's' : ''} of ${m.source} × ${tvWeights.length} tv weight${tvWeights.length > 1 ? 's' : ''}, ${settings.steps} steps each (${style} defaults, ${settings.parameterization}), batched`,
  );
  const t0 = performance.now();
  const sweep = await sweepTv(m.model, objectives, tvWeights, options, hooks);
  const wall = (performance.now() - t0) / 1000;
  // The diversity check: how alike the copies of each target are at the penalty's layer (cosine of activations).
  let diversity: MaximizeIndex['diversity'];
  if (copies > 1 && diversityLayer) {
    const probe = tf.model({
      inputs: m.model.inputs,
      outputs: m.model.getLayer(diversityLayer).output as tf.SymbolicTensor,
    });
    const [hh, ww, cc] = m.inputShape;
    const meanCosine = baseObjectives.map((_, t) => {
      const rows = sweep.cells.slice(t * copies, (t + 1) * copies).map((r) => r[r.length - 1].input);
      const y = tf.tidy(
        () =>
          probe.predict(
            tf.tensor4d(Float32Array.from(rows.flatMap((r) => Array.from(r))), [rows.length, hh, ww, cc]),
          ) as tf.Tensor,
      );
      const data = y.dataSync() as Float32Array;
      y.dispose();
      const size = data.length / rows.length;
      return round(meanPairwiseCosine(rows.map((_, i) => data.slice(i * size, (i + 1) * size))));
    });
    diversity = { copies, weight: diversityWeight, layer: diversityLayer, meanCosine };
    log(`diversity: mean pairwise cosine of the copies at ${diversityLayer}: ${meanCosine.join(', ')}`);
  }
  const cols = sweep.cells[0].length;
  const stepsDone = sweep.cells[0].reduce((s, cell) => s + cell.curve.length, 0);

  // The raw inputs as a PNG holds them, and what the model makes of those.
  const flat = sweep.cells.flat();
  const quantized = flat.map((cell) => quantizedPixels(m, cell.input));
  const pngProbs = probabilitiesOf(m, quantized);

  // Everything computed: now write (each file atomically; index.json last).
  const figScale = Math.max(1, Math.ceil(112 / Math.max(h, w)));
  const files: MaximizeFile[] = [];
  const tiles: RGBAImage[][] = objectives.map(() => []);
  const captions: string[][] = objectives.map(() => []);
  const csv: string[] = ['file,label'];
  for (const [k, cell] of flat.entries()) {
    const ob = objectives[cell.row];
    const stem = `${groups ? `group-${Math.floor(cell.row / copies)}_` : ''}${slug(ob, m.classNames, m.named)}${copies > 1 ? `_copy-${cell.row % copies}` : ''}`;
    const base = tvWeights.length > 1 ? `${stem}_tv-${cell.tvWeight}` : stem;
    const ct = ob.terms.find((t) => t.kind === 'class');
    const pngP = ct ? pngProbs[k][ct.index] : null;
    const img = actmaxToRGBA(quantized[k], h, w, c, [0, 1]);
    tiles[cell.row].push(img);
    const pText =
      ct && cell.targetProbability !== null
        ? `p(${named(ct.index)}) = ${cell.targetProbability.toFixed(3)}`
        : `objective ${cell.objective.toFixed(2)}`;
    captions[cell.row].push(`${pText}\nTV ${cell.totalVariation.toFixed(3)}`);
    const file = `${base}.png`;
    const input = { png: `inputs/${base}.png`, npy: `inputs/${base}.npy` };
    await writePng(
      join(o.out, file),
      await labelledPanel(upscale(img, figScale), {
        title: labels[cell.row],
        caption: [
          pText,
          `predicted ${named(cell.predicted)}`,
          `tv weight ${cell.tvWeight}, objective ${cell.objective.toFixed(2)}`,
        ],
        minWidth: 180,
      }),
    );
    await writeFileAtomic(join(o.out, input.png), await encodeRawPng(quantized[k], h, w, c));
    await writeFileAtomic(join(o.out, input.npy), encodeNpy(cell.input, [h, w, c]));
    const single = classTerm(ob);
    if (single) csv.push(`${base}.png,${single.index}`);
    files.push({
      file,
      input,
      target: labels[cell.row],
      terms: ob.terms,
      minimize: !!ob.minimize,
      row: cell.row,
      col: cell.col,
      tvWeight: cell.tvWeight,
      objective: round(cell.objective, 6),
      targetClass: ct ? ct.index : null,
      className: ct ? (m.classNames[ct.index] ?? null) : null,
      targetProbability: cell.targetProbability === null ? null : round(cell.targetProbability, 6),
      pngProbability: pngP === null ? null : round(pngP, 6),
      predicted: cell.predicted,
      predictedName: m.classNames[cell.predicted] ?? String(cell.predicted),
      totalVariation: round(cell.totalVariation, 6),
      curve: cell.curve.map((v) => round(v)),
    });
  }
  // A labelled image folder for `--dataset` (e.g. to ask another model about these inputs).
  if (csv.length - 1 === files.length)
    await writeFileAtomic(join(o.out, 'inputs/labels.csv'), `${csv.join('\n')}\n`);
  const name = m.run?.config.model ?? m.model.name;
  const title = `activation maximization: ${name} (${m.source}), ${settings.steps} steps, seed ${settings.seed}${groups ? `, neuron groups of ${groups.layer} at its centre` : ''}${sweep.stopped ? ', stopped early' : ''}`;
  const colLabels = tvWeights.slice(0, cols).map((wt) => `tv ${wt}`);
  // One weight: lay the targets out side by side (a row) rather than as one tall column.
  const wide = cols === 1 && objectives.length > 1;
  const grid = wide
    ? labelledGrid([tiles.map((r) => r[0])], colLabels, labels, {
        captions: [captions.map((r) => r[0])],
        title,
      })
    : labelledGrid(tiles, labels, colLabels, { captions, title });
  const gridFile = 'grid.png';
  await writePng(join(o.out, gridFile), await drawLabels(grid));
  const classCells = files.filter((f) => f.targetProbability !== null);
  const index: MaximizeIndex = {
    model: m.source,
    kind: m.kind,
    architecture: name,
    inputShape: m.inputShape,
    preprocess: describePreprocess(m.preprocess),
    scores: { kind: m.scores.kind, from: m.scores.from },
    style,
    grid: gridFile,
    rows: labels,
    tvWeights,
    options: {
      ...settings,
      start: o.start ?? 'noise',
      pixels: '[0, 1], preprocessed for the model inside the graph',
      standardized: m.preprocess.preset === 'per-pixel',
    },
    files,
    stopped: sweep.stopped,
    ...(diversity ? { diversity } : {}),
    ...(groups ? { groups } : {}),
    summary: {
      meanTotalVariation: sweep.meanTotalVariation.map((v) => round(v, 6)),
      atLeast0_9: colLabels.map(
        (_, col) => classCells.filter((f) => f.col === col && (f.targetProbability as number) >= 0.9).length,
      ),
      classCells: classCells.length / cols,
      optimizeSeconds: round(sweep.seconds),
      wallSeconds: round(wall),
      stepsPerSecond: round(stepsDone / Math.max(sweep.seconds, 1e-9)),
      batch: objectives.length,
    },
  };
  await writeJsonAtomic(join(o.out, 'index.json'), index);
  return index;
}

/** One line saying what was written where (and whether a stop cut it short). */
export function maximizeSummary(index: MaximizeIndex, out: string): string {
  const n = index.files.length;
  const steps = index.files.reduce((s, f) => Math.max(s, f.curve.length), 0);
  return `wrote ${n} image${n > 1 ? 's' : ''} (figures, raw inputs/*.png and *.npy), ${index.grid} and index.json to ${out} (${index.summary.stepsPerSecond} steps/s, batch ${index.summary.batch})${index.stopped ? `; stopped early, at step ${steps}` : ''}`;
}

/** The lab's entry point (it names a run directory): opens the model, maximizes, frees the model. */
export interface MaximizeCliOptions extends MaximizeTaskOptions {
  /** The model source (any openModel source); `run` is its alias. */
  model?: string;
  run?: string;
  backend?: BackendName;
}

export async function maximizeCommand(
  o: MaximizeCliOptions,
  logLine: (s: string) => void,
  hooks: JobHooks = {},
): Promise<MaximizeIndex> {
  if (o.backend) await initBackend(o.backend);
  const source = o.model ?? o.run;
  if (!source) throw new Error('--model is required');
  const m = await openModel(source, { log: logLine });
  try {
    const index = await maximizeTask(m, o, { log: logLine, ...hooks });
    logLine(maximizeSummary(index, o.out));
    return index;
  } finally {
    m.dispose();
  }
}
