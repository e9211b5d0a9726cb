/** `convlens faithfulness`: flags in, tasks/faithfulness.ts's table out, as text or JSON. */
import { type BackendName, initBackend } from '@convlens/core/engine/backend';
import { JobStopped } from '@convlens/core/jobs/job';
import { explainMethods } from '@convlens/core/methods/explain/registry';
import type { Command } from 'commander';
import { openDataset } from '../open/open-dataset.ts';
import { openModel } from '../open/open-model.ts';
import { cliJob } from '../progress/terminal-job.ts';
import { pickMethods } from '../tasks/explain.ts';
import {
  type FaithfulnessReport,
  faithfulness,
  faithfulnessLegend,
  faithfulnessRows,
} from '../tasks/faithfulness.ts';
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
import { nonNegativeInt, positiveInt } from './options.ts';

interface FaithfulnessFlags extends ModelFlags, DatasetFlags {
  method: string;
  count: number;
  steps: number;
  seed: number;
  road?: boolean;
  randomization?: boolean;
  layer?: string;
  out?: string;
  json?: boolean;
  backend: BackendName;
}

export function formatFaithfulness(r: FaithfulnessReport): string {
  const rows = faithfulnessRows(r);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => [...row[i]].length)));
  const lines = rows.map((row) =>
    row
      .map((c, i) => c + ' '.repeat(widths[i] - [...c].length))
      .join('  ')
      .trimEnd(),
  );
  return [...lines, '', ...faithfulnessLegend(r)].join('\n');
}

export function registerFaithfulnessCommand(program: Command): void {
  datasetOptions(
    modelOptions(
      program
        .command('faithfulness')
        .description(
          'how faithful each explanation method is: deletion/insertion AUC vs random, ROAD, randomization sanity check',
        ),
    ),
  )
    .option(
      '--method <ids>',
      `method(s), comma-separated, or all (${explainMethods()
        .map((m) => m.id)
        .join(', ')})`,
      'all',
    )
    .option('--count <n>', 'number of inputs (a seeded random choice)', positiveInt('--count'), 100)
    .option('--steps <n>', 'deletion/insertion curve steps', positiveInt('--steps'), 20)
    .option(
      '--seed <n>',
      'seed for the choice of inputs and the random baselines',
      nonNegativeInt('--seed'),
      1,
    )
    .option('--road', 'also ROAD (remove and debias: MoRF/LeRF with noisy linear imputation)')
    .option('--randomization', 'also the model randomization sanity check (on the first 16 inputs)')
    .option('--layer <name>', 'layer for CAM methods (default: the last spatial layer)')
    .option('--out <dir>', 'write faithfulness.json and faithfulness.md here')
    .option('--json', 'print the report as JSON on stdout')
    .addOption(backendOption())
    .action(
      action(async (o: FaithfulnessFlags) => {
        const source = modelSource(o)!;
        // Unknown ids fail before any loading.
        const methods = pickMethods(o.method);
        await initBackend(o.backend);
        const model = await openModel(source, openModelOptions(o, log));
        const job = cliJob('faithfulness', 'img');
        try {
          const data = await openDataset(o.dataset, model, openDatasetOptions(o, log));
          const report = await faithfulness(
            model,
            data,
            {
              methods,
              count: o.count,
              steps: o.steps,
              seed: o.seed,
              road: o.road,
              randomization: o.randomization,
              layer: o.layer,
              out: o.out,
            },
            job,
          );
          job.close();
          process.stdout.write(`${o.json ? JSON.stringify(report, null, 2) : formatFaithfulness(report)}\n`);
        } catch (err) {
          if (!(err instanceof JobStopped)) throw err;
          log('faithfulness: stopped; nothing written');
          process.exit(130);
        } finally {
          job.close();
          model.dispose();
        }
      }),
    );
}
