/**
 * The inside-the-network commands: activations, filters, stats (+ merge), receptive-field. Flags only:
 * the jobs are in tasks/, the printing in inside-format.ts.
 */
import type { BackendName } from '@convlens/core/engine/backend';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { openDataset } from '../open/open-dataset.ts';
import { activationsCommand } from '../tasks/activations.ts';
import { filtersCommand } from '../tasks/filters.ts';
import { receptiveFieldCommand } from '../tasks/receptive-field.ts';
import { type StatsSummary, statsCommand, statsMergeCommand } from '../tasks/stats.ts';
import { action, backendOption, log } from './common.ts';
import { formatActivations, formatFilters, formatReceptiveFields, formatStats } from './inside-format.ts';
import { asJob, shardOption, withModel } from './model-job.ts';
import {
  type DatasetFlags,
  datasetOptions,
  type ModelFlags,
  modelOptions,
  openDatasetOptions,
} from './model-options.ts';
import { nonNegativeInt, positiveInt } from './options.ts';

const layerList = (v: string) => {
  const names = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) throw new InvalidArgumentError(`expected comma-separated layer names, got '${v}'`);
  return names;
};

type Flags = ModelFlags & DatasetFlags & { backend: BackendName } & Record<string, any>;

const channelsOption = (cmd: Command) =>
  cmd.option(
    '--max-channels <n>',
    'channels drawn per layer (default: all on a small model, the first 32 on a big one)',
    positiveInt('--max-channels'),
  );

export function registerInsideCommands(program: Command): void {
  channelsOption(
    datasetOptions(
      modelOptions(
        program
          .command('activations')
          .description("every conv layer's feature maps and every dense layer's activations for one input"),
      )
        .option('--image <file>', 'input image (PNG, JPEG, …; resized as the model expects, with a notice)')
        .option('--index <n>', 'use image N of --dataset instead', nonNegativeInt('--index')),
      'dataset for --index: mnist, fashion-mnist, an IDX folder or an image folder (default: the run’s held-out data)',
    ),
  )
    .option(
      '--layers <a,b>',
      'layers to show (default: every conv, pool and dense layer; 8 conv layers of a big model)',
      layerList,
    )
    .requiredOption('--out <dir>', 'output directory (replaced atomically)')
    .addOption(backendOption())
    .action(
      action(async (o: Flags) => {
        const r = await withModel(o, async (m) => {
          if (o.image !== undefined && o.index !== undefined)
            throw new Error('give either --image or --index, not both');
          if (o.image === undefined && o.index === undefined)
            throw new Error('give an input: --image FILE or --index N');
          const input =
            o.image !== undefined
              ? { image: o.image as string }
              : {
                  dataset: await openDataset(o.dataset, m, openDatasetOptions(o, log)),
                  index: o.index as number,
                };
          return asJob('activations', 'layers', (job) =>
            activationsCommand(
              { model: m, input, out: o.out, layers: o.layers, maxChannels: o.maxChannels },
              job,
            ),
          );
        });
        process.stdout.write(`${formatActivations(r)}\n`);
      }),
    );

  channelsOption(
    modelOptions(
      program
        .command('filters')
        .description("conv layers' filter weights as images on a shared symmetric scale per layer"),
    ),
  )
    .option('--layers <a,b>', 'conv layers to draw (default: every conv layer; 8 of a big model)', layerList)
    .requiredOption('--out <dir>', 'output directory (replaced atomically)')
    .addOption(backendOption())
    .action(
      action(async (o: Flags) => {
        const r = await withModel(o, (m) =>
          asJob('filters', 'layers', (job) =>
            filtersCommand({ model: m, out: o.out, layers: o.layers, maxChannels: o.maxChannels }, job),
          ),
        );
        process.stdout.write(`${formatFilters(r)}\n`);
      }),
    );

  // `stats merge PARTIAL... --out DIR` is parsed here rather than as a subcommand: the root program
  // hoists options past subcommand names, so a nested `merge --out` would be taken as stats' own.
  channelsOption(
    datasetOptions(
      modelOptions(
        program
          .command('stats')
          .usage('--model SOURCE [options] --out DIR  |  stats merge PARTIAL... --out DIR')
          .description(
            'class means, per-class mean maps, mode maps and top-k patches over a dataset (streamed); ' +
              '`stats merge PARTIAL...` merges shard partials (partial.json files or their directories)',
          )
          .argument('[merge...]', '`merge` followed by the partials to merge'),
        { required: false },
      ),
    ),
  )
    .option(
      '--limit <n>',
      'only N images (the first N of an IDX set, N evenly spaced ones of an image folder)',
      positiveInt('--limit'),
    )
    .option(
      '--shard <i/n>',
      'process shard i of n (contiguous); merge the partials with `stats merge`',
      shardOption,
    )
    .option(
      '--layers <a,b>',
      'layers (default: every conv, pool and dense layer; 8 conv layers of a big model)',
      layerList,
    )
    .option(
      '--mode-layers <a,b>',
      'layers to keep mode maps and mean maps for (default: every chosen conv layer)',
      layerList,
    )
    .option('--top-k <k>', 'images kept per filter', positiveInt('--top-k'), 9)
    .option('--batch-size <n>', 'batch size (default 256; 32 on a big model)', positiveInt('--batch-size'))
    .option('--out <dir>', 'output directory (replaced atomically)')
    .option('--json', 'print the summary as JSON')
    .addOption(backendOption())
    .action(async (args: string[], o: Flags) => {
      await action(async () => {
        if (!o.out) throw new Error("required option '--out <dir>' not specified");
        let s: StatsSummary;
        if (args.length > 0) {
          if (args[0] !== 'merge')
            throw new Error(`unexpected argument '${args[0]}' (did you mean \`stats merge\`?)`);
          s = await statsMergeCommand(args.slice(1), { out: o.out }, { log });
        } else {
          s = await withModel(o, async (m) => {
            const dataset = await openDataset(o.dataset, m, openDatasetOptions(o, log));
            return asJob('stats', 'img', (job) =>
              statsCommand(
                {
                  model: m,
                  dataset,
                  out: o.out,
                  limit: o.limit,
                  shard: o.shard,
                  layers: o.layers,
                  modeLayers: o.modeLayers,
                  topK: o.topK,
                  batchSize: o.batchSize,
                  maxChannels: o.maxChannels,
                },
                job,
              ),
            );
          });
        }
        process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatStats(s)}\n`);
      })(o);
    });

  modelOptions(
    program
      .command('receptive-field')
      .description('receptive-field size, jump (stride) and start offset of every layer'),
  )
    .option('--json', 'print JSON')
    .addOption(backendOption())
    .action(
      action(async (o: Flags) => {
        const r = await withModel(o, (m) => receptiveFieldCommand({ model: m }));
        process.stdout.write(o.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatReceptiveFields(r)}\n`);
      }),
    );
}
