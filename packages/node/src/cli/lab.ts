/** `convlens lab`: the whole classic lab as one self-contained HTML report. */
import { MODEL_NAMES } from '@convlens/core/models/zoo';
import { type Command, Option } from 'commander';
import { runLab } from '../lab/run-lab.ts';
import { action, backendOption, dataOptions, log } from './common.ts';
import { nonNegativeInt, oneOf, positiveInt } from './options.ts';

export function registerLabCommand(program: Command): void {
  dataOptions(
    program
      .command('lab')
      .description(
        'run the whole lab (data, training timeline, test, inside, maximization, explanations) as an HTML report',
      )
      .option('--dataset <name|dir>', 'mnist, fashion-mnist, or a folder with the four IDX files', 'mnist')
      .addOption(
        new Option('--model <name>', 'zoo model').argParser(oneOf('model', MODEL_NAMES)).default('pw11'),
      ),
  )
    .option('--epochs <n>', 'training epochs (default 4; 2 with --quick)', positiveInt('--epochs'))
    .option(
      '--limit <n>',
      'train on the first N training examples (default 8000; 1500 with --quick)',
      positiveInt('--limit'),
    )
    .option('--quick', 'few epochs and small subsets (about a minute): a smoke run')
    .option('--force', 'recompute every stage instead of reusing cached ones')
    .option('--seed <n>', 'seed for weights, split and methods', nonNegativeInt('--seed'), 1)
    .option('--out <dir>', 'report directory (index.html, report.json, figures/, run/)', 'runs/lab')
    .option('--json', 'print a machine-readable summary on stdout')
    .addOption(backendOption())
    .action(
      action(async (o: any) => {
        const t0 = performance.now();
        // Twice under load a lab run exited 0 with nothing written (not reproduced since): suspected
        // an idle event loop while awaiting the wasm pool's unref'ed workers. Hold the loop open.
        const keepAlive = setInterval(() => {}, 1 << 30);
        const s = await runLab(o, log).finally(() => clearInterval(keepAlive));
        const total = (performance.now() - t0) / 1000;
        if (o.json) process.stdout.write(`${JSON.stringify({ ...s, seconds: total }, null, 2)}\n`);
        else
          log(
            `lab: report in ${s.report} (${(s.reportBytes / 1e6).toFixed(1)} MB, ${total.toFixed(0)} s)` +
              (s.accuracy !== undefined ? `; held-out accuracy ${(s.accuracy * 100).toFixed(2)}%` : ''),
          );
        if (s.interrupted) process.exit(130);
      }),
    );
}
