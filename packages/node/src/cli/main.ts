/** The convlens command line. Errors print one line (a stack trace only with --verbose) and exit ≠ 0. */

import { MODEL_NAMES } from '@convlens/core/models/zoo';
import { PRESETS } from '@convlens/core/preprocess/presets';
import { OPTIMIZERS } from '@convlens/core/train/optimizers';
import { Command, Option } from 'commander';
import { formatBench, runBench } from '../bench/bench.ts';
import { addBrowserBench, formatBrowserBench } from '../bench/browser.ts';
import { startNodeBackend } from '../engine/node-backend.ts';
import { cliJob } from '../progress/terminal-job.ts';
import { trainCommand } from '../tasks/train.ts';
import { registerCamHeadCommand } from './cam-head.ts';
import { registerClassifyCommand } from './classify.ts';
import { action, backendOption, dataOptions, fail, log, setVerbose } from './common.ts';
import { registerConceptsCommands } from './concepts.ts';
import { registerEmbedCommand } from './embed.ts';
import { registerEvaluateCommand } from './evaluate.ts';
import { registerExplainCommand } from './explain.ts';
import { registerFaithfulnessCommand } from './faithfulness.ts';
import { registerFeaturesCommand } from './features.ts';
import { registerImportCommand } from './import.ts';
import { registerInsideCommands } from './inside.ts';
import { registerK8sCommand } from './k8s.ts';
import { registerLabCommand } from './lab.ts';
import { registerMaximizeCommand } from './maximize.ts';
import { registerMergeCommand } from './merge.ts';
import { nonNegativeInt, numberIn, oneOf, positiveInt, positiveNumber } from './options.ts';
import { checkOutputFlags } from './output-flags.ts';
import { registerServeCommand } from './serve.ts';
import { registerSlurmCommand } from './slurm.ts';
import { kebab, trainFromBase } from './train-base.ts';
import { registerTransferCommand } from './transfer.ts';

const program = new Command()
  .name('convlens')
  .description('Train, look inside and explain convolutional neural networks.')
  .version('0.1.0')
  .option('--verbose', 'print stack traces on errors')
  .option(
    '--threads <n>',
    'wasm threads (default: $CONVLENS_THREADS — a number or all — else every core without native kernels, 1 with them)',
    positiveInt('--threads'),
  )
  .hook('preAction', async (cmd, sub) => {
    setVerbose(!!cmd.opts().verbose);
    // Output folders are checked before any work (a folder under /proc fails here, in milliseconds).
    await checkOutputFlags(sub.opts());
    // --backend native (the default): wasm with oneDNN kernels, or threaded wasm on every core after
    // a one-line notice.
    const backend = startNodeBackend(sub.opts().backend, { threads: cmd.opts().threads });
    if (backend) sub.setOptionValue('backend', backend);
  });

dataOptions(
  program
    .command('train')
    .description('train a model on a dataset, writing RUN_DIR/model, history.json and checkpoints/')
    .addOption(
      new Option('--model <name>', 'zoo model').argParser(oneOf('model', MODEL_NAMES)).default('pw11'),
    )
    .option('--dataset <name|dir>', 'mnist, fashion-mnist, or a folder with the four IDX files', 'mnist'),
)
  .option('--epochs <n>', 'total epochs (with --resume: epochs to reach)', positiveInt('--epochs'), 12)
  .option('--batch-size <n>', 'batch size', positiveInt('--batch-size'), 128)
  .addOption(
    new Option('--optimizer <name>', 'optimizer').argParser(oneOf('optimizer', OPTIMIZERS)).default('adam'),
  )
  .option('--lr <x>', 'learning rate (default: the optimizer’s Keras default)', positiveNumber('--lr'))
  .option('--momentum <x>', 'momentum (sgd, rmsprop)', numberIn('--momentum', 0, 1, true))
  .option('--nesterov', 'Nesterov momentum (sgd)')
  .option(
    '--val-split <f>',
    'validation fraction of the training data',
    numberIn('--val-split', 0, 1, true),
    0.2,
  )
  .option('--limit <n>', 'keep only the first N training examples (quick runs)', positiveInt('--limit'))
  .option('--seed <n>', 'seed for weights, split, shuffling and augmentation', nonNegativeInt('--seed'), 1)
  .option(
    '--patience <n>',
    'early stopping: epochs without validation-loss improvement',
    positiveInt('--patience'),
  )
  .option(
    '--min-delta <x>',
    'early stopping: smallest improvement that counts',
    numberIn('--min-delta', 0, Infinity),
  )
  .option('--standardize', 'per-pixel standardization (mean/std image, stored with the model)')
  .option('--rotation <deg>', 'augmentation: max rotation in degrees', numberIn('--rotation', 0, 180))
  .option('--shift <f>', 'augmentation: max shift as a fraction of width/height', numberIn('--shift', 0, 1))
  .option('--zoom <f>', 'augmentation: zoom range [1-f, 1+f]', numberIn('--zoom', 0, 1, true))
  .option('--flip', 'augmentation: random horizontal flips')
  .requiredOption('--out <dir>', 'run directory')
  .option('--resume', 'continue the run in --out from its last checkpoint')
  .option('--force', 'overwrite an existing run in --out')
  .option('--json', 'print a machine-readable summary on stdout')
  .option(
    '--base <model>',
    'transfer learning: start from this pretrained model (folder, model.json, URL, .h5, .keras) with --dataset an image folder (as `convlens transfer`)',
  )
  .option('--freeze-until <layer>', 'with --base: last layer of the frozen part')
  .option('--head <spec>', 'with --base: gap or dense:N', 'gap')
  .option(
    '--fine-tune <n>',
    'with --base: then unfreeze and fine-tune for N epochs at lr/10',
    nonNegativeInt('--fine-tune'),
    0,
  )
  .addOption(
    new Option('--on-corrupt <mode>', 'with --base: unreadable images: skip (reported) or fail')
      .argParser(oneOf('on-corrupt', ['skip', 'fail'] as const))
      .default('fail'),
  )
  .addOption(
    new Option('--preset <name>', 'with --base: input preprocessing (default: the base’s)').argParser(
      oneOf('preset', PRESETS),
    ),
  )
  .addOption(backendOption())
  .action(
    action(async (o: any, cmd?: Command) => {
      if (o.base) {
        const summary = await trainFromBase(o, cmd);
        if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
        return;
      }
      for (const flag of ['freezeUntil', 'preset'] as const)
        if (o[flag] !== undefined) throw new Error(`--${kebab(flag)} needs --base`);
      const job = cliJob('train', 'img');
      const summary = await trainCommand(o, log, job).finally(() => job.close());
      if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      if (summary.stopReason === 'interrupted') process.exit(130);
    }),
  );

registerEvaluateCommand(program);

program
  .command('bench')
  .description(
    'throughput of the lab CNN (forward, training, input gradient, act-max, Grad-CAM) vs the PyTorch peer, same run',
  )
  .option('--reps <n>', 'timed repetitions per measure (median)', positiveInt('--reps'), 10)
  .option('--no-peer', 'skip the PyTorch peer')
  .option('--onnx', 'also time torchvision ResNet-18, SqueezeNet via ONNX vs PyTorch (python3-torch)')
  .option('--no-mobilenet', 'skip MobileNet v1 0.25/0.75 (../shared/models) vs peer_mobilenet.py')
  .option('--profile', 'profile the MobileNet passes kernel by kernel (GFLOP/s, GB/s, overhead)')
  .option('--out-dir <dir>', 'where to write the JSON result', 'bench/results')
  .option('--json', 'print the result as JSON on stdout')
  .option(
    '--browser',
    'also time the explorer in headless chromium on MobileNet v1 0.75 (maps, Grad-CAM, every method)',
  )
  .option('--browser-only', 'only the headless chromium measures (no Node measures)')
  .addOption(backendOption())
  .action(
    action(async (o: any) => {
      if (o.browserOnly) {
        const b = await addBrowserBench(null, { outDir: o.outDir }, log);
        process.stdout.write(
          o.json
            ? `${JSON.stringify(b, null, 2)}\n`
            : `${formatBrowserBench(b.browser).join('\n')}\nresults: ${b.file}\n`,
        );
        return;
      }
      const report = await runBench(
        {
          backend: o.backend,
          reps: o.reps,
          peer: o.peer,
          outDir: o.outDir,
          json: !!o.json,
          onnx: !!o.onnx,
          mobilenet: o.mobilenet,
          profile: !!o.profile,
        },
        log,
      );
      const withBrowser = o.browser ? await addBrowserBench(report, { outDir: o.outDir }, log) : null;
      const browserLines = withBrowser ? ['', ...formatBrowserBench(withBrowser.browser)] : [];
      process.stdout.write(
        o.json
          ? `${JSON.stringify(withBrowser ?? report, null, 2)}\n`
          : `${[formatBench(report), ...browserLines].join('\n')}\n`,
      );
    }),
  );

registerMaximizeCommand(program);
registerInsideCommands(program);
registerMergeCommand(program);
registerLabCommand(program);
registerServeCommand(program);
registerExplainCommand(program);
registerFaithfulnessCommand(program);
registerImportCommand(program);
registerTransferCommand(program);
registerCamHeadCommand(program);
registerFeaturesCommand(program);
registerClassifyCommand(program);
registerEmbedCommand(program);
registerConceptsCommands(program);
registerSlurmCommand(program);
registerK8sCommand(program);
program.parseAsync(process.argv).catch(fail);
