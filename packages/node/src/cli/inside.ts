/** The inside-the-network commands: activations, filters, stats (+ merge), receptive-field. */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { action, backendOption, dataOptions, log } from './common.ts';
import { activationsCommand, formatActivations } from './inside-activations.ts';
import { filtersCommand, formatFilters } from './inside-filters.ts';
import { formatReceptiveFields, receptiveFieldCommand } from './inside-receptive-field.ts';
import {
  formatStats,
  parseShard,
  type StatsSummary,
  statsCommand,
  statsMergeCommand,
} from './inside-stats.ts';
import { nonNegativeInt, positiveInt } from './options.ts';

const layerList = (v: string) => {
  const names = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) throw new InvalidArgumentError(`expected comma-separated layer names, got '${v}'`);
  return names;
};

const shardOption = (v: string) => {
  try {
    return parseShard(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};

export function registerInsideCommands(program: Command): void {
  dataOptions(
    program
      .command('activations')
      .description("every conv layer's feature maps and every dense layer's activations for one input")
      .requiredOption('--run <dir>', 'run directory written by `convlens train`')
      .option(
        '--image <file>',
        'input image (PNG, JPEG, …; resized/converted to the model input with a notice)',
      )
      .option('--index <n>', 'use test image N of --dataset instead', nonNegativeInt('--index'))
      .option('--dataset <name|dir>', 'dataset for --index (default: the run’s)'),
  )
    .option('--layers <a,b>', 'layers to show (default: every conv, pool and dense layer)', layerList)
    .requiredOption('--out <dir>', 'output directory (replaced atomically)')
    .addOption(backendOption())
    .action(
      action(async (o: any) => {
        process.stdout.write(`${formatActivations(await activationsCommand(o, log))}\n`);
      }),
    );

  program
    .command('filters')
    .description("every conv layer's filter weights as images on a shared symmetric scale")
    .requiredOption('--run <dir>', 'run directory')
    .requiredOption('--out <dir>', 'output directory (replaced atomically)')
    .addOption(backendOption())
    .action(
      action(async (o: any) => {
        process.stdout.write(`${formatFilters(await filtersCommand(o, log))}\n`);
      }),
    );

  // `stats merge PARTIAL... --out DIR` is parsed here rather than as a subcommand: the root program
  // hoists options past subcommand names, so a nested `merge --out` would be taken as stats' own.
  dataOptions(
    program
      .command('stats')
      .usage('--run RUN_DIR [options] --out DIR  |  stats merge PARTIAL... --out DIR')
      .description(
        'class means, per-class mean maps, mode maps and top-k patches over a dataset (streamed); ' +
          '`stats merge PARTIAL...` merges shard partials (partial.json files or their directories)',
      )
      .argument('[merge...]', '`merge` followed by the partials to merge')
      .option('--run <dir>', 'run directory')
      .option('--dataset <name|dir>', 'dataset whose test split is used (default: the run’s)'),
  )
    .option('--limit <n>', 'only the first N images', positiveInt('--limit'))
    .option(
      '--shard <i/n>',
      'process shard i of n (contiguous); merge the partials with `stats merge`',
      shardOption,
    )
    .option('--layers <a,b>', 'layers (default: every conv, pool and dense layer)', layerList)
    .option(
      '--mode-layers <a,b>',
      'layers to keep mode maps and mean maps for (default: every conv layer)',
      layerList,
    )
    .option('--top-k <k>', 'images kept per filter', positiveInt('--top-k'), 9)
    .option('--batch-size <n>', 'batch size', positiveInt('--batch-size'), 256)
    .option('--out <dir>', 'output directory (replaced atomically)')
    .option('--json', 'print the summary as JSON')
    .addOption(backendOption())
    .action(async (args: string[], o: any) => {
      await action(async () => {
        if (!o.out) throw new Error("required option '--out <dir>' not specified");
        let s: StatsSummary;
        if (args.length > 0) {
          if (args[0] !== 'merge')
            throw new Error(`unexpected argument '${args[0]}' (did you mean \`stats merge\`?)`);
          s = await statsMergeCommand(args.slice(1), o, log);
        } else {
          if (!o.run) throw new Error("required option '--run <dir>' not specified");
          s = await statsCommand(o, log);
        }
        process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatStats(s)}\n`);
      })(o);
    });

  program
    .command('receptive-field')
    .description('receptive-field size, jump (stride) and start offset of every layer')
    .requiredOption('--run <dir>', 'run directory')
    .option('--json', 'print JSON')
    .addOption(backendOption())
    .action(
      action(async (o: any) => {
        const r = await receptiveFieldCommand(o);
        process.stdout.write(o.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatReceptiveFields(r)}\n`);
      }),
    );
}
