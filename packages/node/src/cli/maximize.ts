/**
 * `convlens maximize`: activation maximization for classes, conv filters or dense units of a trained run,
 * optionally swept over total-variation weights. Writes one labelled PNG per result, a labelled grid
 * (rows: targets, columns: tv weights) and index.json describing every file and number. Every input is
 * checked before any computation, so a bad input leaves no files.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type BackendName, initBackend } from '@convlens/core/engine/backend';
import { parseNpy } from '@convlens/core/methods/actmax/npy';
import {
  describeObjective,
  type Objective,
  type Term,
  validateObjectives,
} from '@convlens/core/methods/actmax/objective';
import { checkStartImage, DEFAULTS, type MaximizeOptions } from '@convlens/core/methods/actmax/optimize';
import { PARAMETERIZATIONS, type ParameterizationName } from '@convlens/core/methods/actmax/parameterization';
import { sweepTv } from '@convlens/core/methods/actmax/sweep';
import { actmaxToRGBA, type LabelledGrid, labelledGrid } from '@convlens/core/render/actmax-grid';
import { type RGBAImage, upscale } from '@convlens/core/render/image';
import { OPTIMIZERS, type OptimizerName } from '@convlens/core/train/optimizers';
import { type Command, InvalidArgumentError, Option } from 'commander';
import sharp from 'sharp';
import { writeJsonAtomic } from '../io/atomic.ts';
import { labelledPanel, readImage, toRgba, writePng } from '../io/png.ts';
import { type LoadedRun, loadRun } from '../train/load-run.ts';
import { action, backendOption, log } from './common.ts';
import { nonNegativeInt, numberIn, oneOf, positiveInt, positiveNumber } from './options.ts';
import { progressBar } from './progress.ts';

export interface MaximizeCliOptions {
  run: string;
  class?: string;
  layer?: string;
  filter?: number[];
  unit?: number[];
  position?: [number, number];
  together?: boolean;
  weights?: number[];
  minimize?: boolean;
  probability?: boolean;
  tv: number;
  sweepTv?: number[];
  lp: number;
  steps: number;
  lr: number;
  optimizer: OptimizerName;
  jitter: number;
  scale: number;
  rotate: number;
  blurEvery: number;
  blurSigma: number;
  param: ParameterizationName;
  seed: number;
  start?: string;
  out: string;
  json?: boolean;
  backend: BackendName;
}

/** Comma-separated list parser with a one-line error naming the flag. */
function listOf(name: string, parse: (v: string) => number) {
  return (v: string): number[] => {
    const parts = v.split(',').map((s) => s.trim());
    if (parts.some((p) => p === ''))
      throw new InvalidArgumentError(`${name} must be a comma-separated list, got '${v}'`);
    return parts.map(parse);
  };
}

const finite = (name: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n))
    throw new InvalidArgumentError(`${name} must be a finite number, got '${v}'`);
  return n;
};

/** The run's objectives from the flags: one per class/filter/unit, or one weighted sum with --together. */
export function objectivesFromFlags(o: MaximizeCliOptions, numClasses: number): Objective[] {
  const picks = [o.class !== undefined, o.filter !== undefined, o.unit !== undefined].filter(Boolean).length;
  if (picks !== 1)
    throw new Error('give exactly one of --class, --layer with --filter, or --layer with --unit');
  let terms: Term[];
  if (o.class !== undefined) {
    if (o.layer !== undefined) throw new Error('--layer goes with --filter or --unit, not --class');
    const idx =
      o.class.trim() === 'all'
        ? Array.from({ length: numClasses }, (_, i) => i)
        : listOf('--class', (v) => nonNegativeInt('--class')(v))(o.class);
    const space = o.probability ? 'probability' : 'logit';
    terms = idx.map((index) => ({ kind: 'class', index, space }));
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

/** A file-name-safe name for an objective: class-3, conv2-f5, dense1-u7, class-1+class-7. */
function slug(o: Objective): string {
  const one = (t: Term) =>
    t.kind === 'class'
      ? `class-${t.index}`
      : t.kind === 'filter'
        ? `${t.layer}-f${t.index}`
        : `${t.layer}-u${t.index}`;
  return `${o.minimize ? 'min-' : ''}${o.terms.map(one).join('+')}`.replace(/[^\w.+-]/g, '_');
}

async function readStart(path: string, run: LoadedRun): Promise<Float32Array> {
  const [h, w, c] = run.config.inputShape;
  let pixels: Float32Array;
  if (path.toLowerCase().endsWith('.npy')) {
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err: any) {
      throw new Error(
        `--start ${path}: cannot read (${err.code === 'ENOENT' ? 'file not found' : err.code})`,
      );
    }
    pixels = parseNpy(new Uint8Array(bytes), `--start ${path}`).data;
  } else {
    if (c !== 1 && c !== 3)
      throw new Error(`--start: images need a 1- or 3-channel model, this one has ${c}`);
    pixels = (await readImage(path, { width: w, height: h, channels: c })).pixels;
  }
  try {
    checkStartImage(pixels, h, w, c);
  } catch (err: any) {
    throw new Error(`--start ${path}: ${err.message}`);
  }
  return pixels;
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

const round = (x: number, digits = 4) => Number(x.toPrecision(digits));
const fmtWeight = (w: number) => String(w);

export async function maximizeCommand(o: MaximizeCliOptions, logLine: (s: string) => void) {
  await initBackend(o.backend);
  const run = await loadRun(o.run);
  const objectives = objectivesFromFlags(o, run.config.numClasses);
  validateObjectives(run.model, objectives);
  const start = o.start ? await readStart(o.start, run) : undefined;
  if (o.sweepTv && o.tv !== DEFAULTS.tvWeight) throw new Error('--tv and --sweep-tv cannot be combined');
  const tvWeights = o.sweepTv ?? [o.tv];
  const [h, w, c] = run.config.inputShape;
  const range: [number, number] = [0, 1];
  const options: MaximizeOptions = {
    steps: o.steps,
    learningRate: o.lr,
    optimizer: o.optimizer,
    lpWeight: o.lp,
    jitter: o.jitter,
    scale: o.scale,
    rotate: o.rotate,
    blurEvery: o.blurEvery,
    blurSigma: o.blurSigma,
    parameterization: o.param,
    seed: o.seed,
    start,
    range,
    standardizer: run.standardizer,
  };
  // Row titles: the objective, plus the class name where the run has real names (Fashion-MNIST).
  const labels = objectives.map((ob) => {
    const t = ob.terms[0];
    const name = ob.terms.length === 1 && t.kind === 'class' ? run.classNames[t.index] : undefined;
    return name && name !== String(t.index) ? `${describeObjective(ob)} (${name})` : describeObjective(ob);
  });
  logLine(
    `maximizing ${objectives.length} target${objectives.length > 1 ? 's' : ''} of ${o.run} (${run.config.model}) × ${tvWeights.length} tv weight${tvWeights.length > 1 ? 's' : ''}, ${o.steps} steps each, batched`,
  );
  const total = o.steps * tvWeights.length;
  const bar = progressBar('maximize', total, 'steps');
  let done = 0;
  const t0 = performance.now();
  const sweep = await sweepTv(run.model, objectives, tvWeights, {
    ...options,
    onStep: () => bar.update(++done),
  });
  bar.stop();
  const wall = (performance.now() - t0) / 1000;
  run.model.dispose();

  // Everything computed: now write (each file atomically; index.json last).
  const className = (k: number) => run.classNames[k] ?? String(k);
  const classTerm = (ob: Objective) => ob.terms.find((t) => t.kind === 'class');
  const scale = Math.max(1, Math.ceil(112 / Math.max(h, w)));
  const files: Record<string, unknown>[] = [];
  const tiles: RGBAImage[][] = [];
  const captions: string[][] = [];
  for (const [row, ob] of objectives.entries()) {
    tiles.push([]);
    captions.push([]);
    for (const cell of sweep.cells[row]) {
      const img = actmaxToRGBA(cell.image, h, w, c, range);
      tiles[row].push(img);
      const ct = classTerm(ob);
      const pText =
        ct && cell.targetProbability !== null
          ? `p(${className(ct.index)}) = ${cell.targetProbability.toFixed(3)}`
          : `objective ${cell.objective.toFixed(2)}`;
      captions[row].push(`${pText}\nTV ${cell.totalVariation.toFixed(3)}`);
      const file =
        tvWeights.length > 1 ? `${slug(ob)}_tv-${fmtWeight(cell.tvWeight)}.png` : `${slug(ob)}.png`;
      const panel = await labelledPanel(upscale(img, scale), {
        title: labels[row],
        caption: [
          pText,
          `predicted ${className(cell.predicted)}`,
          `tv weight ${fmtWeight(cell.tvWeight)}, objective ${cell.objective.toFixed(2)}`,
        ],
        minWidth: 180,
      });
      await writePng(join(o.out, file), panel);
      files.push({
        file,
        target: labels[row],
        terms: ob.terms,
        minimize: !!ob.minimize,
        row,
        col: cell.col,
        tvWeight: cell.tvWeight,
        objective: round(cell.objective, 6),
        targetClass: ct ? ct.index : null,
        targetProbability: cell.targetProbability === null ? null : round(cell.targetProbability, 6),
        predicted: cell.predicted,
        totalVariation: round(cell.totalVariation, 6),
        curve: cell.curve.map((v) => round(v)),
      });
    }
  }
  const title = `activation maximization: ${run.config.model} (${o.run}), ${o.steps} steps, seed ${o.seed}`;
  const colLabels = tvWeights.map((wt) => `tv ${fmtWeight(wt)}`);
  // One weight: lay the targets out side by side (a row) rather than as one tall column.
  const wide = tvWeights.length === 1 && objectives.length > 1;
  const grid = wide
    ? labelledGrid([tiles.map((r) => r[0])], colLabels, labels, {
        captions: [captions.map((r) => r[0])],
        title,
      })
    : labelledGrid(tiles, labels, colLabels, { captions, title });
  const gridFile = 'grid.png';
  await writePng(join(o.out, gridFile), await drawLabels(grid));
  const classCells = files.filter((f) => f.targetProbability !== null);
  const index = {
    run: o.run,
    model: run.config.model,
    inputShape: run.config.inputShape,
    grid: gridFile,
    rows: labels,
    tvWeights,
    options: {
      steps: o.steps,
      learningRate: o.lr,
      optimizer: o.optimizer,
      lpWeight: o.lp,
      jitter: o.jitter,
      scale: o.scale,
      rotate: o.rotate,
      blurEvery: o.blurEvery,
      blurSigma: o.blurSigma,
      parameterization: o.param,
      seed: o.seed,
      start: o.start ?? 'noise',
      range,
      standardized: !!run.standardizer,
    },
    files,
    summary: {
      meanTotalVariation: sweep.meanTotalVariation.map((v) => round(v, 6)),
      atLeast0_9: tvWeights.map(
        (_, col) => classCells.filter((f) => f.col === col && (f.targetProbability as number) >= 0.9).length,
      ),
      classCells: classCells.length / tvWeights.length,
      optimizeSeconds: round(sweep.seconds),
      wallSeconds: round(wall),
      stepsPerSecond: round(total / sweep.seconds),
      batch: objectives.length,
    },
  };
  await writeJsonAtomic(join(o.out, 'index.json'), index);
  logLine(
    `wrote ${files.length} image${files.length > 1 ? 's' : ''}, ${gridFile} and index.json to ${o.out} (${round(total / sweep.seconds, 3)} steps/s, batch ${objectives.length})`,
  );
  return index;
}

export function registerMaximizeCommand(program: Command): void {
  program
    .command('maximize')
    .description(
      'activation maximization: synthesize inputs that maximize classes, conv filters or dense units',
    )
    .requiredOption('--run <dir>', 'run directory written by `convlens train`')
    .option('--class <list>', 'class indices, comma-separated, or "all" (pre-softmax logits)')
    .option('--layer <name>', 'layer for --filter or --unit')
    .option(
      '--filter <list>',
      'conv filter indices (mean activation over positions)',
      listOf('--filter', nonNegativeInt('--filter')),
    )
    .option('--unit <list>', 'dense unit indices', listOf('--unit', nonNegativeInt('--unit')))
    .option(
      '--position <row,col>',
      'with --filter: the activation at one position instead of the mean',
      (v: string) => {
        const p = listOf('--position', nonNegativeInt('--position'))(v);
        if (p.length !== 2) throw new InvalidArgumentError(`--position must be row,col, got '${v}'`);
        return p as [number, number];
      },
    )
    .option('--together', 'one image for the (weighted) sum of all targets instead of one image each')
    .option(
      '--weights <list>',
      'with --together: weight of each target',
      listOf('--weights', finite('--weights')),
    )
    .option('--minimize', 'minimize instead of maximize')
    .option('--probability', 'with --class: the softmax probability instead of the logit')
    .option(
      '--tv <w>',
      'total-variation weight (keras-vis semantics)',
      numberIn('--tv', 0, Infinity),
      DEFAULTS.tvWeight,
    )
    .option(
      '--sweep-tv <list>',
      'sweep these tv weights (e.g. 0,0.125,0.25,0.5,1,2,4,8,16)',
      listOf('--sweep-tv', numberIn('--sweep-tv', 0, Infinity)),
    )
    .option('--lp <w>', 'L6-norm weight (keras-vis LPNorm)', numberIn('--lp', 0, Infinity), DEFAULTS.lpWeight)
    .option('--steps <n>', 'optimization steps', positiveInt('--steps'), DEFAULTS.steps)
    .option('--lr <x>', 'learning rate', positiveNumber('--lr'), DEFAULTS.learningRate)
    .addOption(
      new Option('--optimizer <name>', 'optimizer').argParser(oneOf('optimizer', OPTIMIZERS)).default('adam'),
    )
    .option(
      '--jitter <p>',
      'random shift per step: pixels (≥ 1) or fraction of the size (< 1)',
      numberIn('--jitter', 0, Infinity),
      DEFAULTS.jitter,
    )
    .option(
      '--scale <s>',
      'random scale per step in [1-s, 1+s]',
      numberIn('--scale', 0, 1, true),
      DEFAULTS.scale,
    )
    .option(
      '--rotate <deg>',
      'random rotation per step up to ± deg',
      numberIn('--rotate', 0, 180),
      DEFAULTS.rotate,
    )
    .option(
      '--blur-every <n>',
      'Gaussian-blur the image every N steps (0: never)',
      nonNegativeInt('--blur-every'),
      0,
    )
    .option('--blur-sigma <px>', 'blur strength', positiveNumber('--blur-sigma'), DEFAULTS.blurSigma)
    .addOption(
      new Option('--param <name>', 'parameterization (fourier: Lucid-style decorrelated)')
        .argParser(oneOf('parameterization', PARAMETERIZATIONS))
        .default('pixel'),
    )
    .option('--seed <n>', 'seed for the start noise and the transforms', nonNegativeInt('--seed'), 0)
    .option('--start <file>', 'start from this image (PNG/JPEG…, or .npy floats in [0,1]) instead of noise')
    .requiredOption('--out <dir>', 'output directory')
    .option('--json', 'print index.json on stdout')
    .addOption(backendOption())
    // Flag errors in the same one-line `convlens: …` form as every other error of this command.
    .configureOutput({ outputError: (str, write) => write(str.replace(/^error: /, 'convlens: ')) })
    .action(
      action(async (opts: MaximizeCliOptions) => {
        const index = await maximizeCommand(opts, log);
        if (opts.json) process.stdout.write(`${JSON.stringify(index, null, 2)}\n`);
      }),
    );
}
