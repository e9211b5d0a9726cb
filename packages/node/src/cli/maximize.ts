/** `convlens maximize`: flags in, tasks/maximize.ts's files and index out (index.json on stdout with --json). */
import { type BackendName, initBackend } from '@convlens/core/engine/backend';
import { ACTMAX_STYLES, type ActmaxStyle, STYLE_DEFAULTS } from '@convlens/core/methods/actmax/defaults';
import { PARAMETERIZATIONS } from '@convlens/core/methods/actmax/parameterization';
import { OPTIMIZERS } from '@convlens/core/train/optimizers';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { openModel } from '../open/open-model.ts';
import { cliJob } from '../progress/terminal-job.ts';
import { type MaximizeTaskOptions, maximizeSummary, maximizeTask } from '../tasks/maximize.ts';
import { action, backendOption, log } from './common.ts';
import {
  type DatasetFlags,
  datasetOptions,
  type ModelFlags,
  modelOptions,
  modelSource,
  openDatasetOptions,
  openModelOptions,
} from './model-options.ts';
import { nonNegativeInt, numberIn, oneOf, positiveInt, positiveNumber } from './options.ts';

interface MaximizeFlags extends Omit<MaximizeTaskOptions, 'style' | 'dataset'>, ModelFlags, DatasetFlags {
  style: ActmaxStyle | 'auto';
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

const K = STYLE_DEFAULTS['keras-vis'];
const L = STYLE_DEFAULTS.lucid;
/** "(default 256; lucid 512)": settings left unset come from the style. */
const dflt = (k: keyof typeof K) =>
  K[k] === L[k] ? ` (default ${K[k]})` : ` (default ${K[k]}; lucid ${L[k]})`;

export function registerMaximizeCommand(program: Command): void {
  datasetOptions(
    modelOptions(
      program
        .command('maximize')
        .description(
          'activation maximization: synthesize inputs that maximize classes, conv filters, dense units, objective expressions or neuron groups; writes captioned figures, the raw inputs (PNG + .npy) and index.json',
        ),
    ),
    'with --groups: images whose activations are factorized (default: the run’s held-out data)',
  )
    .option(
      '--objective <expr>',
      'an objective expression, one image each (repeat): sums, products, negation and weights of class:C, channel:LAYER:C, neuron:LAYER:C[:ROW,COL], unit:LAYER:U, direction:LAYER:v1,v2,… — e.g. "channel:conv_pw_13_relu:12 + 0.5*class:3 - neuron:dense:4"',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      '--diversity <n>',
      'n different images per target, with Lucid’s Gram-matrix diversity penalty among them',
      positiveInt('--diversity'),
    )
    .option(
      '--diversity-weight <w>',
      'weight of the diversity penalty (default 20; 0: distinct starts only)',
      numberIn('--diversity-weight', 0, Infinity),
    )
    .option(
      '--diversity-layer <name>',
      'layer of the diversity penalty (default: the target’s layer, else the last spatial layer)',
    )
    .option(
      '--groups <k>',
      'neuron groups: NMF of --layer’s activations over a dataset sample into k groups, one image per group direction',
      positiveInt('--groups'),
    )
    .option('--group-images <n>', 'images sampled for --groups (default 32)', positiveInt('--group-images'))
    .option(
      '--class <list>',
      'class indices or names, comma-separated (e.g. 543,dumbbell,coffee mug), or "all"; pre-softmax logits',
    )
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
    .addOption(
      new Option(
        '--style <name>',
        'defaults for unset settings: keras-vis (pixels, TV; small grey models), lucid (Fourier, jitter/scale/rotation; RGB or ≥ 64 px), auto: by the model',
      )
        .argParser(oneOf('style', ['auto', ...ACTMAX_STYLES]))
        .default('auto'),
    )
    .option(
      `--tv <w>`,
      `total-variation weight (keras-vis semantics)${dflt('tvWeight')}`,
      numberIn('--tv', 0, Infinity),
    )
    .option(
      '--sweep-tv <list>',
      'sweep these tv weights (e.g. 0,0.125,0.25,0.5,1,2,4,8,16)',
      listOf('--sweep-tv', numberIn('--sweep-tv', 0, Infinity)),
    )
    .option('--lp <w>', `L6-norm weight (keras-vis LPNorm)${dflt('lpWeight')}`, numberIn('--lp', 0, Infinity))
    .option('--steps <n>', `optimization steps${dflt('steps')}`, positiveInt('--steps'))
    .option('--lr <x>', `learning rate${dflt('learningRate')}`, positiveNumber('--lr'))
    .addOption(
      new Option('--optimizer <name>', 'optimizer (default adam)').argParser(oneOf('optimizer', OPTIMIZERS)),
    )
    .option(
      '--jitter <p>',
      `random shift per step: pixels (≥ 1) or fraction of the size (< 1)${dflt('jitter')}`,
      numberIn('--jitter', 0, Infinity),
    )
    .option(
      '--scale <s>',
      `random scale per step in [1-s, 1+s]${dflt('scale')}`,
      numberIn('--scale', 0, 1, true),
    )
    .option(
      '--rotate <deg>',
      `random rotation per step up to ± deg${dflt('rotate')}`,
      numberIn('--rotate', 0, 180),
    )
    .option(
      '--blur-every <n>',
      'Gaussian-blur the image every N steps (0: never)',
      nonNegativeInt('--blur-every'),
    )
    .option('--blur-sigma <px>', `blur strength${dflt('blurSigma')}`, positiveNumber('--blur-sigma'))
    .addOption(
      new Option(
        '--param <name>',
        `parameterization (fourier: Lucid-style decorrelated; cppn: a small network of pixel coordinates, lr 0.005 unless --lr)${dflt('parameterization')}`,
      ).argParser(oneOf('parameterization', PARAMETERIZATIONS)),
    )
    .option(
      '--decay <p>',
      `with --param fourier: frequency f learns at 1/f^p (larger: smoother)${dflt('decay')}`,
      numberIn('--decay', 0, 4),
    )
    .option(
      '--noise <a>',
      `start-noise amplitude, a fraction of the pixel range${dflt('noise')}`,
      numberIn('--noise', 0, 1),
    )
    .option('--seed <n>', 'seed for the start noise and the transforms', nonNegativeInt('--seed'), 0)
    .option(
      '--start <file>',
      'start from this image (PNG/JPEG…: pixels) or .npy (a model input, as maximize writes) instead of noise',
    )
    .requiredOption('--out <dir>', 'output directory')
    .option('--json', 'print index.json on stdout')
    .addOption(backendOption())
    // Flag errors in the same one-line `convlens: …` form as every other error of this command.
    .configureOutput({ outputError: (str, write) => write(str.replace(/^error: /, 'convlens: ')) })
    .action(
      action(async (o: MaximizeFlags) => {
        const source = modelSource(o)!;
        await initBackend(o.backend);
        const model = await openModel(source, openModelOptions(o, log));
        const job = cliJob('maximize', 'steps', log);
        try {
          const index = await maximizeTask(
            model,
            { ...o, dataset: o.dataset, datasetOptions: openDatasetOptions(o, log) },
            job,
          );
          job.close();
          log(maximizeSummary(index, o.out));
          if (o.json) process.stdout.write(`${JSON.stringify(index, null, 2)}\n`);
          // Stopped by Ctrl-C: the results so far are written; say so in the exit status.
          if (index.stopped) process.exitCode = 130;
        } finally {
          job.close();
          model.dispose();
        }
      }),
    );
}
