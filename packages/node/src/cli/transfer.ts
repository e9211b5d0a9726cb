/**
 * `convlens transfer`: cut a pretrained model at --freeze-until, train a new head on an ImageFolder dataset
 * (frozen features cached on disk), optionally fine-tune end to end. Writes OUT/model and OUT/history.json.
 */
import { initBackend } from '@convlens/core/engine/backend';
import { PRESETS } from '@convlens/core/preprocess/presets';
import { type Command, Option } from 'commander';
import { hasModel } from '../io/model-io.ts';
import { type Progress, progressBar } from '../progress/progress-bar.ts';
import { runTransfer, type TransferOptions } from '../transfer/transfer.ts';
import { action, backendOption, log } from './common.ts';
import { nonNegativeInt, numberIn, oneOf, positiveInt, positiveNumber } from './options.ts';

export async function transferCommand(o: any) {
  if (!o.force && (await hasModel(`${o.out}/model`)))
    throw new Error(`${o.out}: already holds a run (use --force to replace it)`);
  await initBackend(o.backend);
  let bar: Progress | undefined;
  let done = 0;
  const augment =
    o.rotation || o.shift || o.zoom || o.flip
      ? {
          rotation: o.rotation,
          widthShift: o.shift,
          heightShift: o.shift,
          zoom: o.zoom,
          horizontalFlip: !!o.flip,
        }
      : undefined;
  const opts: TransferOptions = {
    base: o.base,
    freezeUntil: o.freezeUntil,
    head: o.head,
    dataset: o.dataset,
    out: o.out,
    epochs: o.epochs,
    fineTuneEpochs: o.fineTune,
    fineTuneFrom: o.fineTuneFrom,
    batchSize: o.batchSize,
    lr: o.lr,
    valSplit: o.valSplit,
    seed: o.seed,
    onCorrupt: o.onCorrupt,
    preset: o.preset,
    cache: o.cache,
    cacheDir: o.cacheDir,
    augment,
    onPhase: (label, total) => {
      bar?.stop();
      done = 0;
      bar = progressBar(label, total, 'images');
    },
    onImages: (n) => {
      done += n;
      bar?.update(done);
    },
  };
  try {
    return await runTransfer(opts, (s) => {
      bar?.stop();
      bar = undefined;
      log(s);
    });
  } finally {
    bar?.stop();
  }
}

export function registerTransferCommand(program: Command): void {
  program
    .command('transfer')
    .description(
      'transfer learning: new head on a cut pretrained model, trained on an image folder (ROOT/<class>/*)',
    )
    .requiredOption('--base <model>', 'pretrained model: folder, model.json, URL, .h5 or .keras')
    .requiredOption('--freeze-until <layer>', 'last layer of the frozen part (its output feeds the head)')
    .option(
      '--head <spec>',
      'gap (global average pooling + softmax) or dense:N (flatten + dense N + softmax)',
      'gap',
    )
    .requiredOption('--dataset <dir>', 'image folder: one subfolder per class')
    .requiredOption('--out <dir>', 'run directory (model/, history.json)')
    .option('--epochs <n>', 'head epochs', positiveInt('--epochs'), 5)
    .option(
      '--fine-tune <n>',
      'then unfreeze and fine-tune end to end for N epochs at lr/10',
      nonNegativeInt('--fine-tune'),
      0,
    )
    .option(
      '--fine-tune-from <layer>',
      'fine-tune only this layer and those after it (up to --freeze-until); default: all layers',
    )
    .option('--batch-size <n>', 'batch size', positiveInt('--batch-size'), 32)
    .option('--lr <x>', 'Adam learning rate for the head', positiveNumber('--lr'), 0.001)
    .option('--val-split <f>', 'validation fraction', numberIn('--val-split', 0, 1, true), 0.2)
    .option('--seed <n>', 'seed for the split, head weights and augmentation', nonNegativeInt('--seed'), 1)
    .addOption(
      new Option('--on-corrupt <mode>', 'unreadable images: skip (reported) or fail')
        .argParser(oneOf('on-corrupt', ['skip', 'fail'] as const))
        .default('fail'),
    )
    .addOption(
      new Option('--preset <name>', 'input preprocessing (default: the base’s preprocess.json)').argParser(
        oneOf('preset', PRESETS),
      ),
    )
    .option('--no-cache', 'recompute the frozen features every epoch instead of caching them on disk')
    .option('--cache-dir <dir>', 'feature cache folder (default: .convlens-feature-cache beside --out)')
    .option(
      '--rotation <deg>',
      'augmentation: max rotation (disables the feature cache for training)',
      numberIn('--rotation', 0, 180),
    )
    .option('--shift <f>', 'augmentation: max shift fraction', numberIn('--shift', 0, 1))
    .option('--zoom <f>', 'augmentation: zoom range [1-f, 1+f]', numberIn('--zoom', 0, 1, true))
    .option('--flip', 'augmentation: random horizontal flips')
    .option('--force', 'replace an existing run in --out')
    .option('--json', 'print a machine-readable summary on stdout')
    .addOption(backendOption())
    .action(
      action(async (o: any) => {
        const summary = await transferCommand(o);
        if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
        else {
          const last = summary.history.at(-1);
          log(
            `${summary.out}: ${summary.classes.length} classes, ${summary.train} train / ${summary.val} val images, val accuracy ${last?.valAccuracy.toFixed(3)}`,
          );
        }
      }),
    );
}
