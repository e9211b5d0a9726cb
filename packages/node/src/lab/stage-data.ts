/** Stage 1: the data — where it came from, how it was split, counts per class, a sample grid. */
import type { ImageSet } from '@convlens/core/data/types';
import { grid, upscale } from '@convlens/core/render/image';
import { stack } from '../figures/panels.ts';
import { labelledPanel } from '../io/png.ts';
import { exampleImage, saveFigure } from './figures.ts';
import { classNamesOf, heldOut, labPlan } from './plan.ts';
import type { LabContext, StageResult } from './types.ts';

const counts = (set: ImageSet) => {
  const c = new Array(set.numClasses).fill(0);
  for (let i = 0; i < set.count; i++) c[set.labels[i]]++;
  return c as number[];
};

export async function dataStage(ctx: LabContext): Promise<StageResult> {
  const plan = await labPlan(ctx);
  const names = classNamesOf(plan);
  const sets: [string, ImageSet][] = [
    ['train', plan.train],
    ['validation', plan.val],
    ...(plan.test ? ([['test', plan.test]] as [string, ImageSet][]) : []),
  ];
  const perClass = Object.fromEntries(sets.map(([n, s]) => [n, counts(s)]));
  // Sample grid: one row per class, the first 10 training examples of that class.
  const perRow = 10;
  const rows = [];
  for (let c = 0; c < names.length; c++) {
    const idx: number[] = [];
    for (let i = 0; i < plan.train.count && idx.length < perRow; i++)
      if (plan.train.labels[i] === c) idx.push(i);
    const tiles = idx.map((i) => upscale(exampleImage(plan.train, i), 2));
    rows.push(
      await labelledPanel(grid(tiles, { columns: perRow, gap: 2, background: [255, 255, 255, 255] }), {
        title: `class ${c}${names[c] !== String(c) ? ` (${names[c]})` : ''}`,
        fontSize: 11,
        minWidth: 300,
      }),
    );
  }
  const sample = await saveFigure(
    ctx.out,
    'data/samples.png',
    stack(rows, 4),
    'Training examples, one row per class',
    'The first ten training examples of every class, shown at 2× (pixel value 0 = black, 255 = white).',
  );
  const p = plan.provenance;
  const notes = [
    `Dataset ${p.dataset}, read from ${p.source}.`,
    p.split === 'from-test'
      ? `Only the test split (${plan.loaded.test.count} images) was available, so it was split — seeded and stratified by class — into training and validation sets; the validation set is the held-out set the test stage evaluates. ${p.note ?? ''}`
      : `The dataset's own training split was divided into training (${(1 - 0.2) * 100}%) and validation (20%) sets, seeded; its test split is the held-out set.`,
    plan.train.count < (plan.loaded.train ?? plan.loaded.test).count - plan.val.count
      ? `Training uses the first ${plan.train.count} examples of the training split (--limit ${ctx.settings.trainLimit}${ctx.settings.quick ? ', --quick' : ''}).`
      : `Training uses the whole training split (${plan.train.count} examples).`,
  ];
  return {
    figures: [sample],
    notes,
    tables: [
      {
        title: 'Examples per class',
        header: ['class', ...sets.map(([n]) => n)],
        rows: names.map((n, c) => [n, ...sets.map(([s]) => perClass[s][c])]),
      },
    ],
    numbers: {
      dataset: p.dataset,
      source: p.source,
      split: p.split,
      note: p.note ?? null,
      classNames: names,
      counts: Object.fromEntries(sets.map(([n, s]) => [n, s.count])),
      perClass,
      heldOut: plan.test ? 'test' : 'validation',
      heldOutCount: heldOut(plan).count,
      imageShape: [plan.train.height, plan.train.width, plan.train.channels],
    },
  };
}
