/**
 * Stage 4 on a pretrained model (part 1, inside the network), through the inside-the-network tasks on
 * the chosen layers: feature maps of a few dataset images, the kernels behind those layers, statistics
 * over the dataset's classes (class × filter means, mode maps, top-9 patches cut to each unit's
 * receptive field) and the receptive fields themselves.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobHooks } from '@convlens/core/jobs/job';
import type { FigureEntry } from '../figures/figure-set.ts';
import { activationsCommand } from '../tasks/activations.ts';
import { filtersCommand } from '../tasks/filters.ts';
import { receptiveFieldCommand } from '../tasks/receptive-field.ts';
import { statsCommand } from '../tasks/stats.ts';
import { existingFigure, receptiveFieldTable } from './figures.ts';
import { byClass } from './stage-pt-data.ts';
import { type Figure, Interrupted, type LabContext, type StageResult } from './types.ts';

const TITLES: Record<string, string> = {
  input: 'Input image',
  'feature-maps': 'Feature maps',
  'dense-activations': 'Dense activations',
  filters: 'Filters',
  'class-means': 'Mean activation per class and filter',
  'class-mean-maps': 'Per-class mean feature maps',
  'mode-maps': 'Argmax-filter and per-class mode maps',
  'top-k': 'Top-9 patches per filter',
};

/** The figures a task wrote (its index.json), in order, under one group heading. */
export async function indexFigures(
  out: string,
  rel: string,
  group: string,
  prefix = '',
  smooth: (e: FigureEntry) => boolean = () => false,
): Promise<Figure[]> {
  const index = JSON.parse(await readFile(join(out, rel, 'index.json'), 'utf8')) as { files: FigureEntry[] };
  const figs: Figure[] = [];
  for (const e of index.files) {
    if (!e.file.endsWith('.png')) continue;
    const title = `${prefix}${TITLES[e.kind] ?? e.kind}${e.layer ? ` — ${e.layer}` : ''}`;
    figs.push({ ...(await existingFigure(out, `${rel}/${e.file}`, title)), group, smooth: smooth(e) });
  }
  return figs;
}

/** The lab's stop request and a progress bar as one task's hooks; stop maps to Interrupted upstream. */
export function taskHooks(ctx: LabContext, label: string, unit: string): JobHooks & { close(): void } {
  const job = ctx.job?.(label, unit);
  return {
    onProgress: job?.onProgress,
    shouldStop: ctx.stopRequested,
    log: () => {},
    close: () => job?.close(),
  };
}

async function withHooks<T>(ctx: LabContext, label: string, unit: string, fn: (h: JobHooks) => Promise<T>) {
  const h = taskHooks(ctx, label, unit);
  try {
    return await fn(h);
  } finally {
    h.close();
  }
}

export async function ptInsideStage(ctx: LabContext): Promise<StageResult> {
  const { model, data, settings: p } = ctx.pretrained!;
  const fig = (rel: string) => join(ctx.out, 'figures/part1', rel);
  // Images for the feature maps: the first of the first classes (one per class), else the first ones.
  const all = Array.from({ length: data.count }, (_, i) => i);
  const firsts = data.labelled ? [...byClass(data.labels, all).values()].map((m) => m[0]) : all;
  const probes = firsts.slice(0, p.fmapImages);
  const activations: Figure[] = [];
  for (const [k, index] of probes.entries()) {
    if (ctx.stopRequested()) throw new Interrupted();
    const rel = `activations-${k}`;
    const r = await withHooks(ctx, 'activations', 'layers', (h) =>
      activationsCommand(
        {
          model,
          input: { dataset: data, index },
          out: fig(rel),
          layers: p.layers,
          // 24 = a full 6 × 4 grid of tiles.
          maxChannels: p.big ? 24 : p.maxChannels,
        },
        h,
      ),
    );
    const what = `image ${index}${r.className ? ` (${r.className.split(',')[0]})` : ''}`;
    activations.push(
      ...(await indexFigures(
        ctx.out,
        `figures/part1/${rel}`,
        `Feature maps of the chosen layers: ${what}`,
        `${what}: `,
        (e) => e.kind === 'input',
      )),
    );
  }
  if (ctx.stopRequested()) throw new Interrupted();
  const filters = p.filterLayers.length
    ? await withHooks(ctx, 'filters', 'layers', (h) =>
        filtersCommand({ model, out: fig('filters'), layers: p.filterLayers, maxChannels: 32 }, h),
      ).then(() =>
        indexFigures(
          ctx.out,
          'figures/part1/filters',
          `Kernels: ${p.filterLayers.join(', ')} (the first layer, and the spatial kernels feeding the chosen 1×1 layers)`,
        ),
      )
    : [];
  if (ctx.stopRequested()) throw new Interrupted();
  const stats = await withHooks(ctx, 'stats', 'img', (h) =>
    statsCommand(
      {
        model,
        dataset: data,
        out: fig('stats'),
        limit: p.statsImages,
        layers: p.layers,
        topK: p.topK,
        maxChannels: p.maxChannels,
      },
      h,
    ),
  );
  const statsFigs = await indexFigures(
    ctx.out,
    'figures/part1/stats',
    `Over ${stats.images} images of ${stats.classes} classes: class means, argmax/mode maps, top-${p.topK} patches`,
    '',
    (e) => e.kind === 'top-k',
  );
  // The mergeable statistics (MBs) are not part of the report; the figures and index.json are.
  await rm(fig('stats/partial.json'), { force: true });
  const rf = await receptiveFieldCommand({ model });
  const shown = new Set(p.layers);
  const rfRows = rf.layers.filter((l) => shown.has(l.layer) || p.filterLayers.includes(l.layer));
  return {
    figures: [...activations, ...filters, ...statsFigs],
    notes: [
      `Layers: ${p.layers.join(', ')} (${p.layers.length < 5 ? 'spread over the network’s depth, ' : ''}choose others with --layers). Figures show the first ${p.maxChannels} channels of each layer.`,
      `Statistics over ${stats.images} images (${stats.imagesPerSecond.toFixed(1)} img/s)${stats.labels === 'predicted' ? ', classes = the model’s predictions (the images have no labels)' : ''}.`,
    ],
    tables: [receptiveFieldTable(rfRows)],
    numbers: {
      layers: p.layers,
      filterLayers: p.filterLayers,
      activationImages: probes,
      statsImages: stats.images,
      statsSeconds: stats.seconds,
      statsClasses: stats.classes,
      statsLabels: stats.labels,
      statsLayers: stats.layers,
      receptiveFields: rfRows,
    },
  };
}
