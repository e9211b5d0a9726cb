/** `convlens lab`: the whole classic lab as one self-contained HTML report. */
import { MODEL_NAMES } from '@convlens/core/models/zoo';
import type { Command } from 'commander';
import { isZooModel } from '../lab/pretrained.ts';
import { type LabHooks, runLab } from '../lab/run-lab.ts';
import { type Progress, progressBar } from '../progress/progress-bar.ts';
import { action, backendOption, log } from './common.ts';
import {
  datasetOptions,
  modelOptions,
  modelSource,
  openDatasetOptions,
  openModelOptions,
} from './model-options.ts';
import { nonNegativeInt, positiveInt } from './options.ts';

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** Flags that only mean something for a model used as it is (not trained here). */
const PRETRAINED_FLAGS: [string, string][] = [
  ['layers', '--layers'],
  ['classes', '--classes'],
  ['labels', '--labels'],
  ['inputRange', '--input-range'],
  ['preset', '--preset'],
  ['resize', '--resize'],
  ['labelsCsv', '--labels-csv'],
  ['strictClasses', '--strict-classes'],
];

/** One progress bar per long step of a stage, on stderr. */
const progressJobs: LabHooks = {
  job(label, unit) {
    let bar: Progress | undefined;
    let total = -1;
    return {
      onProgress(done, n) {
        if (!bar || n !== total) {
          bar?.stop();
          total = n;
          bar = progressBar(`lab: ${label}`, n, unit);
        }
        bar.update(done);
      },
      close() {
        bar?.stop();
        bar = undefined;
      },
    };
  },
};

export function registerLabCommand(program: Command): void {
  const cmd = program
    .command('lab')
    .description(
      'run the whole lab (data, training timeline, test, inside, maximization, explanations) as an HTML report; on a pretrained --model, everything but training',
    );
  modelOptions(cmd, { required: false });
  // --model takes a zoo name too: the lab trains those (the default, pw11); anything else is used as it is.
  const model = cmd.options.find((x) => x.long === '--model')!;
  model.description = `a zoo model to train (${MODEL_NAMES.join(', ')}; default pw11), or a pretrained model to use as it is: a run directory, an imported model folder, a tfjs model.json/folder/URL, a Keras .h5/.keras file, or an ONNX .onnx file`;
  datasetOptions(
    cmd,
    'images: mnist (default), fashion-mnist or an IDX folder for a zoo model; for a pretrained one also an image folder (default: a run’s held-out data)',
  )
    .option(
      '--layers <names>',
      'pretrained: layers to look inside, comma-separated (default: 4 conv layers spread over depth)',
      list,
    )
    .option(
      '--classes <list>',
      'pretrained: classes to maximize, indices or names, comma-separated (default: dumbbell, cup, dalmatian on ImageNet models, else up to 10)',
      list,
    )
    .option('--epochs <n>', 'training epochs (default 4; 2 with --quick)', positiveInt('--epochs'))
    .option(
      '--limit <n>',
      'zoo: train on the first N training examples (default 8000; 1500 with --quick); pretrained: use N images of the dataset, evenly spaced',
      positiveInt('--limit'),
    )
    .option('--quick', 'few epochs and small subsets (about a minute): a smoke run')
    .option(
      '--transfer [dataset]',
      'zoo: add the transfer-learning section, reusing the trained network on another IDX dataset (default fashion-mnist)',
    )
    .option('--force', 'recompute every stage instead of reusing cached ones')
    .option('--seed <n>', 'seed for weights, split and methods', nonNegativeInt('--seed'), 1)
    .option('--out <dir>', 'report directory (index.html, report.json, figures/, run/)', 'runs/lab')
    .option('--json', 'print a machine-readable summary on stdout')
    .addOption(backendOption())
    .action(
      action(async (o: any) => {
        const t0 = performance.now();
        const source = modelSource(o, false);
        if (isZooModel(source)) {
          const given = PRETRAINED_FLAGS.find(([k]) => o[k] !== undefined);
          if (given)
            throw new Error(
              `${given[1]} applies to a pretrained --model; the zoo model ${source ?? 'pw11'} is trained by the lab on IDX data`,
            );
        }
        // Twice under load a lab run exited 0 with nothing written (not reproduced since): suspected
        // an idle event loop while awaiting the wasm pool's unref'ed workers. Hold the loop open.
        const keepAlive = setInterval(() => {}, 1 << 30);
        const s = await runLab(
          {
            ...o,
            model: source,
            openModel: openModelOptions(o, log),
            openDataset: openDatasetOptions(o, log),
          },
          log,
          progressJobs,
        ).finally(() => clearInterval(keepAlive));
        const total = (performance.now() - t0) / 1000;
        if (o.json) process.stdout.write(`${JSON.stringify({ ...s, seconds: total }, null, 2)}\n`);
        else
          log(
            `lab: report in ${s.report} (${(s.reportBytes / 1e6).toFixed(1)} MB, ${total.toFixed(0)} s)` +
              (s.accuracy !== undefined ? `; accuracy ${(s.accuracy * 100).toFixed(2)}%` : ''),
          );
        if (s.interrupted) process.exit(130);
      }),
    );
}
