/** Stage 3: test performance — accuracy, confusion matrix, per-class P/R/F1, misclassified gallery. */

import { upscale } from '@convlens/core/render/image';
import { drawExplanation } from '@convlens/core/render/overlay';
import { labelledGrid } from '../figures/panels.ts';
import { labelledPanel } from '../io/png.ts';
import { evaluateSource } from '../tasks/evaluate.ts';
import { loadRun } from '../train/load-run.ts';
import { explainBatch, findMethod } from './explain.ts';
import { exampleImage, modelInput, saveFigure } from './figures.ts';
import { classNamesOf, heldOut, labPlan } from './plan.ts';
import { confusionChart, svgToImage } from './svg-chart.ts';
import type { Figure, LabContext, StageResult } from './types.ts';

const GALLERY = 16;

export async function testStage(ctx: LabContext): Promise<StageResult> {
  const s = ctx.settings;
  const ev = await evaluateSource(
    {
      model: ctx.runDir,
      limit: s.testLimit,
      openDataset: { dataDir: ctx.dataDir, download: ctx.download ?? true },
    },
    { log: ctx.log },
  );
  const plan = await labPlan(ctx);
  const names = classNamesOf(plan);
  const set = heldOut(plan);
  const figures: Figure[] = [];
  figures.push(
    await saveFigure(
      ctx.out,
      'test/confusion.png',
      await svgToImage(
        confusionChart(
          ev.confusion!,
          names,
          `Confusion matrix, accuracy ${(ev.accuracy * 100).toFixed(2)}%`,
          `${ev.count} ${ev.set.split(',')[0]} images`,
        ),
      ),
      'Confusion matrix',
      'Rows: true class; columns: predicted class. Off-diagonal cells are the mistakes.',
    ),
  );
  const wrong = ev.misclassified.slice(0, GALLERY);
  const notes: string[] = [];
  if (wrong.length) {
    const digits = wrong.map((m) => upscale(exampleImage(set, m.index), 3));
    figures.push(
      await saveFigure(
        ctx.out,
        'test/misclassified.png',
        await labelledPanel(
          await labelledGrid(
            digits,
            wrong.map((m) => ({
              title: `#${m.index}`,
              caption: [
                `true ${names[m.label]}`,
                `pred ${names[m.predicted]} ${(m.confidence * 100).toFixed(0)}%`,
              ],
            })),
            8,
          ),
          { title: `Misclassified examples (first ${wrong.length} of ${ev.misclassified.length})` },
        ),
        'Misclassified examples',
        'Each with its true class and the (wrong) prediction with its probability.',
      ),
    );
    const gradcam = findMethod('gradcam');
    if (gradcam) {
      const run = await loadRun(ctx.runDir);
      try {
        const x = modelInput(
          set,
          wrong.map((m) => m.index),
          run.standardizer,
        );
        const shape: [number, number, number] = [set.height, set.width, set.channels];
        const targets = wrong.flatMap((m) => [m.predicted, m.label]);
        const xx = new Float32Array(x.length * 2);
        const size = shape[0] * shape[1] * shape[2];
        wrong.forEach((_, k) => {
          xx.set(x.subarray(k * size, (k + 1) * size), 2 * k * size);
          xx.set(x.subarray(k * size, (k + 1) * size), (2 * k + 1) * size);
        });
        const e = await explainBatch(gradcam, run.model, xx, shape, targets);
        const tiles = targets.map((_, j) => drawExplanation(e, j, exampleImage(set, wrong[j >> 1].index), 3));
        figures.push(
          await saveFigure(
            ctx.out,
            'test/misclassified-gradcam.png',
            await labelledPanel(
              await labelledGrid(
                tiles,
                targets.map((t, j) => ({
                  title: `#${wrong[j >> 1].index}`,
                  caption: [`${j % 2 ? 'true' : 'pred'} ${names[t]}`],
                })),
                8,
              ),
              {
                title: 'Grad-CAM of the misclassified examples: for the predicted and for the true class',
                caption: ['inferno over the digit: black 0 … yellow = the map’s max'],
              },
            ),
            'Misclassified examples: Grad-CAM',
            'Pairs: evidence for the wrong prediction, then for the true class.',
          ),
        );
      } finally {
        run.model.dispose();
      }
    } else
      notes.push('Grad-CAM of the misclassified examples: not available yet (no gradcam method registered).');
  }
  return {
    figures,
    notes: [
      `Evaluated on ${ev.count} ${ev.set} images${s.testLimit ? ` (--quick: the first ${s.testLimit})` : ''}: accuracy ${(ev.accuracy * 100).toFixed(2)}%, loss ${ev.loss.toFixed(4)}, macro F1 ${ev.macroF1.toFixed(4)}.`,
      ...notes,
    ],
    tables: [
      {
        title: 'Per-class precision, recall and F1',
        header: ['class', 'precision', 'recall', 'F1', 'support'],
        rows: ev.perClass.map((c, k) => [
          names[k],
          c.precision.toFixed(3),
          c.recall.toFixed(3),
          c.f1.toFixed(3),
          c.support,
        ]),
      },
    ],
    numbers: {
      set: ev.set,
      count: ev.count,
      accuracy: ev.accuracy,
      loss: ev.loss,
      macroF1: ev.macroF1,
      confusion: ev.confusion,
      perClass: ev.perClass,
      misclassified: ev.misclassified,
    },
  };
}
