/**
 * Stage 4 (part 1, inside the network): runs the inside-the-network commands on the lab's run —
 * activations of every layer for chosen digits, filters, dataset statistics (class means, argmax and
 * mode maps, top-9 patches) and receptive fields — into DIR/figures/part1, and lists their figures.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { activationsCommand } from '../tasks/activations.ts';
import type { FigureEntry } from '../figures/figure-set.ts';
import { filtersCommand } from '../tasks/filters.ts';
import { loadEvalSet } from '../cli/inside-input.ts';
import { receptiveFieldCommand } from '../tasks/receptive-field.ts';
import { statsCommand } from '../tasks/stats.ts';
import { loadRun } from '../train/load-run.ts';
import { existingFigure, firstOfClasses } from './figures.ts';
import { type Figure, Interrupted, type LabContext, type StageResult } from './types.ts';

const TITLES: Record<string, string> = {
  input: 'Input digit',
  'feature-maps': 'Feature maps',
  'dense-activations': 'Dense activations',
  filters: 'Filters',
  'class-means': 'Mean activation per class and filter',
  'class-mean-maps': 'Per-class mean feature maps',
  'mode-maps': 'Argmax-filter and per-class mode maps',
  'top-k': 'Top-9 patches per filter',
};

async function indexFigures(ctx: LabContext, rel: string, group: string, prefix = ''): Promise<Figure[]> {
  const dir = join(ctx.out, rel);
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { files: FigureEntry[] };
  const figs: Figure[] = [];
  for (const e of index.files) {
    if (!e.file.endsWith('.png')) continue;
    const title = `${prefix}${TITLES[e.kind] ?? e.kind}${e.layer ? ` — ${e.layer}` : ''}`;
    figs.push({ ...(await existingFigure(ctx.out, `${rel}/${e.file}`, title)), group });
  }
  return figs;
}

export async function part1Stage(ctx: LabContext): Promise<StageResult> {
  const s = ctx.settings;
  // The sub-commands' own summaries would bury the lab's stage lines; their progress bars still show.
  const quiet = (_line: string) => {};
  const data = { dataDir: ctx.dataDir, download: ctx.download ?? true };
  const run = await loadRun(ctx.runDir);
  const { set } = await loadEvalSet(run, data, quiet);
  run.model.dispose();
  const digitIdx = firstOfClasses(set, s.activationDigits);
  const activations: Figure[] = [];
  for (const [k, index] of digitIdx.entries()) {
    const rel = `figures/part1/activations-${s.activationDigits[k]}`;
    await activationsCommand(
      { run: ctx.runDir, index, out: join(ctx.out, rel), backend: s.backend, ...data },
      quiet,
    );
    activations.push(
      ...(await indexFigures(
        ctx,
        rel,
        `Activations of every layer: digit ${s.activationDigits[k]}`,
        `Digit ${s.activationDigits[k]} (test image ${index}): `,
      )),
    );
    if (ctx.stopRequested()) throw new Interrupted();
  }
  const filters = await (async () => {
    await filtersCommand(
      { run: ctx.runDir, out: join(ctx.out, 'figures/part1/filters'), backend: s.backend },
      quiet,
    );
    return indexFigures(ctx, 'figures/part1/filters', 'Filters of every conv layer');
  })();
  if (ctx.stopRequested()) throw new Interrupted();
  const stats = await statsCommand(
    {
      run: ctx.runDir,
      limit: s.statsImages,
      topK: s.topK,
      batchSize: 100,
      out: join(ctx.out, 'figures/part1/stats'),
      backend: s.backend,
      ...data,
    },
    quiet,
  );
  const statsFigs = await indexFigures(
    ctx,
    'figures/part1/stats',
    `Over ${stats.images} images: class means, argmax/mode maps, top-${s.topK} patches`,
  );
  // The mergeable statistics (MBs) are not part of the report; the figures and index.json are.
  await rm(join(ctx.out, 'figures/part1/stats/partial.json'), { force: true });
  const rf = await receptiveFieldCommand({ run: ctx.runDir, backend: s.backend });
  return {
    figures: [...activations, ...filters, ...statsFigs],
    notes: [
      `Activations for test images of digits ${s.activationDigits.join(', ')}; statistics over the first ${stats.images} test-split images (${stats.imagesPerSecond.toFixed(0)} img/s).`,
    ],
    tables: [
      {
        title:
          'Receptive fields (input pixels): size, jump (stride between neighbouring units), start offset',
        header: ['layer', 'type', 'output', 'size', 'jump', 'start'],
        rows: rf.layers.map((l) => [
          l.layer,
          l.className,
          l.outSize ? l.outSize.join('×') : '–',
          l.global ? 'whole input' : `${l.rows.size}×${l.cols.size}`,
          `${l.rows.jump}×${l.cols.jump}`,
          `${l.rows.start}, ${l.cols.start}`,
        ]),
      },
    ],
    numbers: {
      activationDigits: s.activationDigits,
      activationIndices: digitIdx,
      statsImages: stats.images,
      statsSeconds: stats.seconds,
      statsLayers: stats.layers,
      receptiveFields: rf.layers,
    },
  };
}
