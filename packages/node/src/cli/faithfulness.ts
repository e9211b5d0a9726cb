/**
 * `convlens faithfulness`: flags in, tasks/faithfulness.ts's table of families out, as text or JSON;
 * `--shard i/n|auto --out DIR` writes one shard's partial; `faithfulness merge PARTIAL... --out DIR`
 * reduces them to the table.
 */
import type { BackendName } from '@convlens/core/engine/backend';
import { explainMethods } from '@convlens/core/methods/explain/registry';
import { type Command, InvalidArgumentError } from 'commander';
import { openDataset } from '../open/open-dataset.ts';
import { pickMethods } from '../tasks/explain.ts';
import {
  candidateLayers,
  type FaithfulnessReport,
  faithfulness,
  faithfulnessLegend,
  faithfulnessRows,
} from '../tasks/faithfulness.ts';
import { rankingLines } from '../tasks/faithfulness-format.ts';
import { faithfulnessMergeCommand, faithfulnessShard } from '../tasks/faithfulness-merge.ts';
import type { Shard } from '../tasks/shard.ts';
import { action, backendOption, log } from './common.ts';
import { asJob, shardOption, withModel } from './model-job.ts';
import {
  type DatasetFlags,
  datasetOptions,
  type ModelFlags,
  modelOptions,
  openDatasetOptions,
} from './model-options.ts';
import { nonNegativeInt, positiveInt } from './options.ts';

interface FaithfulnessFlags extends ModelFlags, DatasetFlags {
  method: string;
  count: number;
  steps: number;
  seed: number;
  road?: boolean;
  roadRank?: 'signed' | 'abs';
  randomization?: boolean;
  sanityCount: number;
  layer?: string;
  layers?: string;
  chunk: number;
  metrics?: string;
  shard?: Shard;
  out?: string;
  allowPartial?: boolean;
  json?: boolean;
  backend: BackendName;
}

export function formatFaithfulness(r: FaithfulnessReport): string {
  const rows = faithfulnessRows(r);
  // The terminal gets short headers: the family once above its columns.
  const head = rows[0].map((h) => h.replace(/^[a-z]+: /, ''));
  const fam = rows[0].map((h, i) => {
    const f = /^([a-z]+)(: | score)/.exec(h)?.[1] ?? '';
    const prev = i > 0 ? (/^([a-z]+)(: | score)/.exec(rows[0][i - 1])?.[1] ?? '') : '';
    return f && f !== prev ? f : '';
  });
  const all = [fam, head, ...rows.slice(1)];
  const widths = head.map((_, i) => Math.max(...all.slice(1).map((row) => [...row[i]].length)));
  const lines = all.map((row) =>
    row
      .map((c, i) => c + ' '.repeat(Math.max(0, widths[i] - [...c].length)))
      .join('  ')
      .trimEnd(),
  );
  return [...lines, '', ...rankingLines(r), '', ...faithfulnessLegend(r)].join('\n');
}

export function registerFaithfulnessCommand(program: Command): void {
  // `faithfulness merge PARTIAL... --out DIR` is parsed here, as `stats merge` is (see cli/inside.ts).
  datasetOptions(
    modelOptions(
      program
        .command('faithfulness')
        .usage('--model SOURCE [options]  |  faithfulness merge PARTIAL... --out DIR')
        .description(
          'how faithful each explanation method is, by metric family (deletion/insertion, ROAD, randomisation, complexity) against controls, with time per image; `faithfulness merge PARTIAL...` merges shard partials',
        )
        .argument('[merge...]', '`merge` followed by the partials to merge'),
      { required: false },
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
      'seed for the choice of inputs, the random map and the randomised model',
      nonNegativeInt('--seed'),
      1,
    )
    .option('--road', 'also ROAD (remove and debias: MoRF/LeRF with noisy linear imputation)')
    .option(
      '--road-rank <how>',
      'ROAD pixel ranking: signed (most positive first) or abs (|value|: strong negative evidence removed early too); implies --road',
      (v: string) => {
        if (v !== 'signed' && v !== 'abs')
          throw new InvalidArgumentError(`--road-rank must be signed or abs, got '${v}'`);
        return v;
      },
    )
    .option('--randomization', 'also the model randomisation test (maps of a model with re-drawn weights)')
    .option('--sanity-count <n>', 'images that get the randomisation test', positiveInt('--sanity-count'), 16)
    .option('--layer <name>', 'layer for CAM methods (default: the last spatial layer)')
    .option(
      '--layers <names>',
      "layers for CAM methods, comma-separated, or 'auto' (the last layer of each of the last two resolutions)",
    )
    .option(
      '--metrics <ids>',
      'registry metrics to run, comma-separated, or all (default: those costing at most 2 forward passes per image; all: also IROF, monotonicity, infidelity, … — every one that does not re-explain)',
    )
    .option('--chunk <n>', 'images per explanation call and per shard unit', positiveInt('--chunk'), 16)
    .option(
      '--shard <i/n>',
      'score shard i of n (every n-th chunk) into --out/partial.json; or auto (Slurm array, Indexed Job)',
      shardOption,
    )
    .option('--out <dir>', 'write faithfulness.json and faithfulness.md here (a shard: partial.json)')
    .option(
      '--allow-partial',
      'merge: with shards missing, write the merged partial.json instead of refusing',
    )
    .option('--json', 'print the report as JSON on stdout')
    .addOption(backendOption())
    .action(async (args: string[], o: FaithfulnessFlags) => {
      await action(async () => {
        if (args.length > 0) {
          if (args[0] !== 'merge')
            throw new Error(`unexpected argument '${args[0]}' (did you mean \`faithfulness merge\`?)`);
          if (!o.out) throw new Error("faithfulness merge: required option '--out <dir>' not specified");
          const m = await faithfulnessMergeCommand(args.slice(1), {
            out: o.out,
            allowMissing: o.allowPartial,
          });
          if (!m.report) {
            log(
              `faithfulness merge: shards ${m.shards.map((s) => s + 1).join(',')}/${m.shardCount} merged into ${o.out}/partial.json`,
            );
            return;
          }
          process.stdout.write(
            `${o.json ? JSON.stringify(m.report, null, 2) : formatFaithfulness(m.report)}\n`,
          );
          return;
        }
        if (o.shard && !o.out)
          throw new Error('--shard needs --out (the folder of the shard’s partial.json)');
        // Unknown ids fail before any loading.
        const methods = pickMethods(o.method);
        await withModel(o, async (model) => {
          const data = await openDataset(o.dataset, model, openDatasetOptions(o, log));
          const layers =
            o.layers === 'auto'
              ? candidateLayers(model.model)
              : o.layers
                  ?.split(',')
                  .map((s) => s.trim())
                  .filter(Boolean);
          const opts = {
            methods,
            count: o.count,
            steps: o.steps,
            seed: o.seed,
            road: o.road || o.roadRank !== undefined,
            roadRank: o.roadRank,
            randomization: o.randomization,
            sanityCount: o.sanityCount,
            layer: o.layer,
            layers,
            chunk: o.chunk,
            metricIds: o.metrics
              ?.split(',')
              .map((x) => x.trim())
              .filter(Boolean),
          };
          if (o.shard) {
            const shard = o.shard;
            const out = o.out!;
            const p = await asJob('faithfulness', 'chunk', (job) =>
              faithfulnessShard(model, data, { ...opts, shard, out }, job),
            );
            if (!p.skipped)
              log(
                `faithfulness: shard ${shard.index + 1}/${shard.count}: ${p.images} images in ${out}/partial.json (${p.seconds.toFixed(1)} s)`,
              );
            return;
          }
          const report = await asJob('faithfulness', 'chunk', (job) =>
            faithfulness(model, data, { ...opts, out: o.out }, job),
          );
          process.stdout.write(`${o.json ? JSON.stringify(report, null, 2) : formatFaithfulness(report)}\n`);
        });
      })(o);
    });
}
