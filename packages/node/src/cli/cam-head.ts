/**
 * `convlens cam-head`: flags in, tasks/cam-head.ts's GAP model out. --model is a training run (trained on
 * its own data) or any model with --dataset (labelled images, split by seed).
 */
import { initBackend } from '@convlens/core/engine/backend';
import type { Command } from 'commander';
import { openDataset } from '../open/open-dataset.ts';
import { openModel } from '../open/open-model.ts';
import { downloadProgress } from '../progress/download-progress.ts';
import { cliJob } from '../progress/terminal-job.ts';
import { camHeadCommand } from '../tasks/cam-head.ts';
import { action, backendOption, log } from './common.ts';
import {
  datasetOptions,
  modelOptions,
  modelSource,
  openDatasetOptions,
  openModelOptions,
} from './model-options.ts';
import { nonNegativeInt, numberIn, positiveInt, positiveNumber } from './options.ts';

export function registerCamHeadCommand(program: Command): void {
  datasetOptions(
    modelOptions(
      program
        .command('cam-head')
        .description(
          "CAM network (the lab's model_gap): cut a model at a conv layer, add global average pooling + dense, train the head, write a model for `explain --method cam`",
        ),
    ),
    'labelled images to train the head on (a run without it: its own data); split by --seed into training and held-out',
  )
    .option('--layer <name>', 'layer to cut at (default: the last conv block with a spatial output > 1×1)')
    .option(
      '--conv <n>',
      'add a 3×3 conv layer of N filters before the GAP, as Zhou et al. do (for shallow cuts)',
      nonNegativeInt('--conv'),
      0,
    )
    .option('--epochs <n>', 'training epochs for the new head', positiveInt('--epochs'), 3)
    .option('--fine-tune', 'train the whole network, not only the head')
    .option('--lr <x>', 'Adam learning rate (default 0.01; 0.003 with --fine-tune)', positiveNumber('--lr'))
    .option('--batch-size <n>', 'batch size (default: the run’s, else 32)', positiveInt('--batch-size'))
    .option(
      '--held-out <f>',
      'with --dataset: fraction held out for accuracy (default 0.2)',
      numberIn('--held-out', 0, 1),
    )
    .option(
      '--seed <n>',
      'seed of the split and the new weights (default: the run’s, else 0)',
      nonNegativeInt('--seed'),
    )
    .option('--out <dir>', 'output: a run directory for a run, else a model folder (default: SOURCE-cam)')
    .option('--force', 'replace an earlier result in --out')
    .option('--json', 'print {accuracy, baseAccuracy, layer, epochs, …} as JSON on stdout')
    .addOption(backendOption())
    .action(
      action(async (o: any) => {
        const source = modelSource(o)!;
        await initBackend(o.backend);
        const m = await openModel(source, openModelOptions(o, log));
        const job = cliJob('cam-head', 'img', log);
        try {
          const dataset = o.dataset ? await openDataset(o.dataset, m, openDatasetOptions(o, log)) : undefined;
          const s = await camHeadCommand(
            {
              model: m,
              dataset,
              heldOut: o.heldOut,
              layer: o.layer,
              conv: o.conv,
              epochs: o.epochs,
              fineTune: o.fineTune,
              lr: o.lr,
              batchSize: o.batchSize,
              out: o.out,
              force: o.force,
              seed: o.seed,
              dataDir: o.dataDir,
              download: o.download,
              downloadOptions: downloadProgress(log),
            },
            job,
          );
          job.close();
          if (o.json) process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
        } catch (err: any) {
          job.close();
          if (err?.exitCode === 130) {
            log(err.message);
            process.exit(130);
          }
          throw err;
        } finally {
          m.dispose();
        }
      }),
    );
}
