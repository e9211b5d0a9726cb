/**
 * Stage 4 (part 1, inside the network): runs the inside-the-network tasks on the lab’s run —
 * activations of every layer for chosen digits, filters, dataset statistics (class means, argmax and
 * mode maps, top-9 patches) and receptive fields — into DIR/figures/part1, and lists their figures.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { openDataset } from '../open/open-dataset.ts';
import { openModel } from '../open/open-model.ts';
import { activationsCommand } from '../tasks/activations.ts';
import { filtersCommand } from '../tasks/filters.ts';
import { receptiveFieldCommand } from '../tasks/receptive-field.ts';
import { statsCommand } from '../tasks/stats.ts';
import { receptiveFieldTable } from './figures.ts';
import { indexFigures, taskHooks } from './stage-pt-inside.ts';
import { type Figure, Interrupted, type LabContext, type StageResult } from './types.ts';

export async function part1Stage(ctx: LabContext): Promise<StageResult> {
  const s = ctx.settings;
  // The run and its held-out data (the test split, or the seeded validation split of a from-test run).
  const model = await openModel(ctx.runDir);
  try {
    const data = await openDataset(undefined, model, {
      dataDir: ctx.dataDir,
      download: ctx.download ?? true,
    });
    const hooks = (label: string, unit: string) => taskHooks(ctx, label, unit);
    const run = async <T>(label: string, unit: string, fn: (h: ReturnType<typeof hooks>) => Promise<T>) => {
      const h = hooks(label, unit);
      try {
        return await fn(h);
      } finally {
        h.close();
      }
    };
    const digitIdx = s.activationDigits.map((c) => {
      const i = Array.prototype.indexOf.call(data.labels, c) as number;
      if (i < 0) throw new Error(`no example of class ${c} in the data`);
      return i;
    });
    const activations: Figure[] = [];
    for (const [k, index] of digitIdx.entries()) {
      const rel = `figures/part1/activations-${s.activationDigits[k]}`;
      await run('activations', 'layers', (h) =>
        activationsCommand({ model, input: { dataset: data, index }, out: join(ctx.out, rel) }, h),
      );
      activations.push(
        ...(await indexFigures(
          ctx.out,
          rel,
          `Activations of every layer: digit ${s.activationDigits[k]}`,
          `Digit ${s.activationDigits[k]} (test image ${index}): `,
        )),
      );
      if (ctx.stopRequested()) throw new Interrupted();
    }
    await run('filters', 'layers', (h) =>
      filtersCommand({ model, out: join(ctx.out, 'figures/part1/filters') }, h),
    );
    const filters = await indexFigures(ctx.out, 'figures/part1/filters', 'Filters of every conv layer');
    if (ctx.stopRequested()) throw new Interrupted();
    const stats = await run('stats', 'img', (h) =>
      statsCommand(
        {
          model,
          dataset: data,
          limit: s.statsImages,
          topK: s.topK,
          batchSize: 100,
          out: join(ctx.out, 'figures/part1/stats'),
        },
        h,
      ),
    );
    const statsFigs = await indexFigures(
      ctx.out,
      'figures/part1/stats',
      `Over ${stats.images} images: class means, argmax/mode maps, top-${s.topK} patches`,
    );
    // The mergeable statistics (MBs) are not part of the report; the figures and index.json are.
    await rm(join(ctx.out, 'figures/part1/stats/partial.json'), { force: true });
    const rf = await receptiveFieldCommand({ model });
    return {
      figures: [...activations, ...filters, ...statsFigs],
      notes: [
        `Activations for test images of digits ${s.activationDigits.join(', ')}; statistics over the first ${stats.images} test-split images (${stats.imagesPerSecond.toFixed(0)} img/s).`,
      ],
      tables: [receptiveFieldTable(rf.layers)],
      numbers: {
        activationDigits: s.activationDigits,
        activationIndices: digitIdx,
        statsImages: stats.images,
        statsSeconds: stats.seconds,
        statsLayers: stats.layers,
        receptiveFields: rf.layers,
      },
    };
  } finally {
    model.dispose();
  }
}
