/**
 * `convlens features`: a layer's output per image to features.npy + labels.csv + index.json, and
 * `features merge DIR... --out DIR` for shards. Flags only; the job is tasks/features.ts.
 */
import type { BackendName } from '@convlens/core/engine/backend';
import { FEATURE_POOLS, type FeaturePool } from '@convlens/core/features/pool';
import { type Command, Option } from 'commander';
import {
  extractFeatures,
  type FeaturesSummary,
  featureLayer,
  mergeFeatures,
  openFeatureDataset,
} from '../tasks/features.ts';
import { layersModel } from '../tasks/layer-choice.ts';
import { action, backendOption, log } from './common.ts';
import { asJob, shardOption, withModel } from './model-job.ts';
import {
  type DatasetFlags,
  datasetOptions,
  type ModelFlags,
  modelOptions,
  openDatasetOptions,
} from './model-options.ts';
import { nonNegativeInt, numberIn, oneOf, positiveInt } from './options.ts';

type Flags = ModelFlags & DatasetFlags & { backend: BackendName } & Record<string, any>;

export function formatFeatures(s: FeaturesSummary): string {
  return [
    `features: ${s.rows} rows × ${s.features} (${s.layer} [${s.layerShape.join('×')}], ${s.pool}) → ${s.out}`,
    `  ${s.classes} classes; split ${s.train} train / ${s.test} test; shard ${s.shard}` +
      (s.imagesPerSecond ? `; ${s.seconds.toFixed(1)} s (${s.imagesPerSecond.toFixed(1)} img/s)` : ''),
    ...(s.skipped ? [`  ${s.skipped} unreadable image(s) skipped`] : []),
  ].join('\n');
}

export function registerFeaturesCommand(program: Command): void {
  // `features merge DIR... --out DIR` is parsed here rather than as a subcommand (as `stats merge`).
  datasetOptions(
    modelOptions(
      program
        .command('features')
        .usage('--model SOURCE --layer L --dataset D --out DIR [options]  |  features merge DIR... --out DIR')
        .description(
          "a layer's output per image (avg/max-pooled or flattened) as features.npy + labels.csv + index.json, " +
            'for classic classifiers (`classify`) or NumPy; `features merge DIR...` joins shards',
        )
        .argument('[merge...]', '`merge` followed by the shard folders'),
      { required: false },
    ),
  )
    .option('--layer <name>', 'the layer whose output is the features')
    .addOption(
      new Option('--pool <how>', 'avg or max over positions, or flatten')
        .argParser(oneOf('pool', FEATURE_POOLS))
        .default('avg'),
    )
    .option(
      '--limit <n>',
      'only N images (the first N of IDX, N evenly spaced of a folder)',
      positiveInt('--limit'),
    )
    .option('--shard <i/n>', 'process shard i of n (contiguous); join with `features merge`', shardOption)
    .addOption(
      new Option('--split <which>', 'IDX datasets: which split to read').argParser(
        oneOf('split', ['train', 'test'] as const),
      ),
    )
    .option(
      '--test-fraction <f>',
      'image folders: held-out test share of each class',
      numberIn('--test-fraction', 0, 1, true),
      0.2,
    )
    .option('--seed <n>', 'seed of the image-folder train/test split', nonNegativeInt('--seed'), 1)
    .option('--batch-size <n>', 'batch size (default 256; 32 on a big model)', positiveInt('--batch-size'))
    .option('--out <dir>', 'output directory (replaced atomically)')
    .option('--json', 'print the summary as JSON')
    .addOption(backendOption())
    .action(async (args: string[], o: Flags) => {
      await action(async () => {
        if (!o.out) throw new Error("required option '--out <dir>' not specified");
        let s: FeaturesSummary;
        if (args.length > 0) {
          if (args[0] !== 'merge')
            throw new Error(`unexpected argument '${args[0]}' (did you mean \`features merge\`?)`);
          s = await mergeFeatures(args.slice(1), o.out);
        } else {
          if (!o.layer) throw new Error("required option '--layer <name>' not specified");
          s = await withModel(o, async (m) => {
            featureLayer(layersModel(m), o.layer); // a bad --layer fails before any image is read
            return asJob('features', 'img', async (job) => {
              const dataset = await openFeatureDataset(o.dataset, m, {
                ...openDatasetOptions(o, log),
                split: o.split,
              });
              return extractFeatures(
                {
                  model: m,
                  dataset,
                  layer: o.layer,
                  out: o.out,
                  pool: o.pool as FeaturePool,
                  limit: o.limit,
                  shard: o.shard,
                  testFraction: o.testFraction,
                  seed: o.seed,
                  batchSize: o.batchSize,
                },
                job,
              );
            });
          });
        }
        process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatFeatures(s)}\n`);
      })(o);
    });
}
