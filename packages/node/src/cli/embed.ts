/**
 * `convlens embed --features DIR`: a 2-D map of a features folder (PCA always, UMAP by default), the
 * separation numbers, a scatter plot, a thumbnail map and nearest-neighbour rows. Flags only; the job
 * is tasks/embed.ts.
 */

import { EMBED_METHODS, type EmbedMethod } from '@convlens/core/embed/embed';
import type { Metric } from '@convlens/core/embed/neighbors';
import type { SeparationScore } from '@convlens/core/embed/quality';
import { type BackendName, initBackend } from '@convlens/core/engine/backend';
import { type Command, Option } from 'commander';
import { cliJob } from '../progress/terminal-job.ts';
import { type EmbedSummary, embedFeatures } from '../tasks/embed.ts';
import { action, backendOption, dataOptions, log } from './common.ts';
import { nonNegativeInt, oneOf, positiveInt } from './options.ts';

interface Flags {
  features?: string;
  method: EmbedMethod;
  seed: number;
  out?: string;
  neighbors?: string[];
  k: number;
  metric: Metric;
  limit: number;
  thumbnails: boolean;
  thumbSize: number;
  json?: boolean;
  backend: BackendName | 'native';
  dataDir?: string;
  download?: boolean;
}

const pct = (s: SeparationScore | null) => (s ? `${(100 * s.accuracy).toFixed(1)}%` : 'n/a');

export function formatEmbed(s: EmbedSummary): string {
  const chance = s.quality.full ?? s.quality.map;
  return [
    `embed: ${s.points} points × ${s.features} features of ${s.layer}, ${s.method} (seed ${s.seed}) → ${s.out}`,
    `  5-NN accuracy: ${s.method} map ${pct(s.quality.map)}` +
      (s.method !== 'pca' ? `, PCA map ${pct(s.quality.pca)}` : '') +
      `, full ${s.features}-D ${pct(s.quality.full)}` +
      (chance ? ` (chance ${(100 * chance.chance).toFixed(0)}%)` : '') +
      `; PCA shows ${(100 * (s.explained[0] + (s.explained[1] ?? 0))).toFixed(1)}% of the variance`,
    `  ${s.seconds.pca.toFixed(1)} s PCA${s.method !== 'pca' ? `, ${s.seconds.embed.toFixed(1)} s ${s.method}` : ''}, ${s.seconds.quality.toFixed(1)} s scores, ${s.seconds.figures.toFixed(1)} s figures`,
    ...s.neighbors.map(
      (r) =>
        `  neighbours of #${r.row} (${r.file}, label ${r.label}): ${r.neighbors.map((n) => `#${n.row}:${n.label}`).join(' ')}`,
    ),
  ].join('\n');
}

export function registerEmbedCommand(program: Command): void {
  dataOptions(
    program
      .command('embed')
      .description(
        'a 2-D map of a features folder (`convlens features`): PCA and UMAP scatter plots coloured by class, ' +
          'thumbnails at their positions, nearest neighbours as images, and how well classes separate',
      )
      .option('--features <dir>', 'a features folder written by `convlens features`'),
  )
    .addOption(
      new Option(
        '--method <m>',
        'the map: pca (linear), umap or tsne (neighbourhoods; tsne: exact, ≤ 3,000 points); PCA is drawn too',
      )
        .argParser(oneOf('method', EMBED_METHODS))
        .default('umap'),
    )
    .option('--seed <n>', 'seed of the embedding', nonNegativeInt('--seed'), 1)
    .option('--out <dir>', 'output directory, replaced atomically (default: FEATURES-map)')
    .option(
      '--neighbors <rows...>',
      'images whose nearest neighbours to show: row indices or files as in labels.csv',
    )
    .option('--k <n>', 'neighbours per image', positiveInt('--k'), 8)
    .addOption(
      new Option('--metric <m>', 'neighbour distance')
        .argParser(oneOf('metric', ['cosine', 'euclidean'] as const))
        .default('cosine'),
    )
    .option('--limit <n>', 'map at most N points (evenly spaced rows)', positiveInt('--limit'), 2000)
    .option('--no-thumbnails', 'skip the images (no model or dataset needed)')
    .option('--thumb-size <px>', 'thumbnail side', positiveInt('--thumb-size'), 32)
    .option('--json', 'print the summary as JSON')
    .addOption(backendOption())
    .action(
      action(async (o: Flags) => {
        if (!o.features) throw new Error("required option '--features <dir>' not specified");
        const out = o.out ?? `${o.features.replace(/[\\/]+$/, '')}-map`;
        // Thumbnails reopen the features' model and dataset through the openers (tf needed).
        if (o.thumbnails) await initBackend(o.backend as BackendName);
        const job = cliJob('embed', 'steps', log);
        let s: EmbedSummary;
        try {
          s = await embedFeatures(
            {
              features: o.features,
              out,
              method: o.method,
              seed: o.seed,
              neighbors: o.neighbors,
              k: o.k,
              metric: o.metric,
              limit: o.limit,
              thumbnails: o.thumbnails,
              thumbSize: o.thumbSize,
              thumbnailSource: { openDataset: { dataDir: o.dataDir, download: o.download, log } },
            },
            job,
          );
        } catch (err) {
          if ((err as Error)?.name === 'JobStopped') {
            job.close();
            log('embed: stopped; nothing was written');
            process.exit(130);
          }
          throw err;
        } finally {
          job.close();
        }
        process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatEmbed(s)}\n`);
      }),
    );
}
