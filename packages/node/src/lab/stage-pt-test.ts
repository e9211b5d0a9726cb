/**
 * Stage 3 on a pretrained model: top-1 and top-5 accuracy over the dataset (the evaluate task), the
 * confusion among the dataset's own classes (a column "other" for predictions outside them) when there
 * are at most 20 of them, else the most-confused pairs, and the misclassified images with Grad-CAM for
 * the model's guess and for the true class.
 */
import { JobStopped } from '@convlens/core/jobs/job';
import { drawExplanation } from '@convlens/core/render/overlay';
import { labelledGrid } from '../figures/panels.ts';
import { labelledPanel } from '../io/png.ts';
import { CONFUSION_MAX_CLASSES, evaluate } from '../tasks/evaluate.ts';
import { findMethod } from './explain.ts';
import { exampleImage, fitImage, saveFigure } from './figures.ts';
import { className } from './pretrained.ts';
import { modelBatch } from './pretrained-input.ts';
import { confusionChart, svgToImage } from './svg-chart.ts';
import { type Figure, Interrupted, type LabContext, type StageResult } from './types.ts';

/** Misclassified images shown, and those of them explained by Grad-CAM. */
const GALLERY = 12;
const GRADCAM = 6;
const TILE = 128;

export async function ptTestStage(ctx: LabContext): Promise<StageResult> {
  const { model, data } = ctx.pretrained!;
  if (!data.labelled)
    return {
      figures: [],
      notes: ['The dataset has no labels, so there is nothing to score the predictions against.'],
      numbers: { labelled: false },
    };
  const job = ctx.job?.('evaluate', 'img');
  const ev = await evaluate(
    model,
    data,
    {},
    { onProgress: job?.onProgress, shouldStop: ctx.stopRequested, log: () => {} },
  )
    .catch((err) => {
      throw err instanceof JobStopped ? new Interrupted() : err;
    })
    .finally(() => job?.close());
  const name = (c: number) => className(model, c);
  // The dataset's classes, and the confusion among them rebuilt from the per-class recall (diagonal)
  // and the list of every misclassified image (off-diagonal): exact, without a 1000 × 1000 matrix.
  const present = [...new Set(data.labels)].sort((a, b) => a - b);
  const row = new Map(present.map((c, i) => [c, i]));
  const figures: Figure[] = [];
  const tables: NonNullable<StageResult['tables']> = [];
  let confusion: number[][] | undefined;
  let columns: string[] | undefined;
  if (present.length <= CONFUSION_MAX_CLASSES) {
    const other = present.length;
    confusion = present.map((c) => {
      const r = new Array<number>(present.length + 1).fill(0);
      const s = ev.perClass[c];
      r[row.get(c)!] = Math.round(s.recall * s.support);
      return r;
    });
    for (const m of ev.misclassified) confusion[row.get(m.label)!][row.get(m.predicted) ?? other]++;
    columns = [...present.map(name), 'other'];
    const hasOther = confusion.some((r) => r[other] > 0);
    if (!hasOther) {
      for (const r of confusion) r.pop();
      columns.pop();
    }
    figures.push(
      await saveFigure(
        ctx.out,
        'test/confusion.png',
        await svgToImage(
          confusionChart(
            confusion,
            present.map(name),
            `Top-1 ${(ev.accuracy * 100).toFixed(1)}%, top-${ev.topK} ${(ev.top5 * 100).toFixed(1)}%`,
            `${ev.count} images of ${present.length} classes; ${model.numClasses} classes the model can predict`,
            columns,
          ),
          1.25,
        ),
        'Confusion among the dataset’s classes',
        `Rows: true class; columns: predicted class${hasOther ? ', “other” = any of the model’s classes not in the dataset' : ''}.`,
      ),
    );
  } else
    tables.push({
      title: `Most-confused pairs (of ${present.length} classes)`,
      header: ['true class', 'predicted as', 'images'],
      rows: ev.confusedPairs.map((p) => [name(p.label), name(p.predicted), p.count]),
    });
  // Per dataset class: its top-1 accuracy and the model's most frequent wrong guess.
  const guesses = new Map<number, Map<number, number>>();
  for (const m of ev.misclassified) {
    const g = guesses.get(m.label) ?? new Map<number, number>();
    g.set(m.predicted, (g.get(m.predicted) ?? 0) + 1);
    guesses.set(m.label, g);
  }
  const perClass = present.map((c) => {
    const g = [...(guesses.get(c) ?? new Map()).entries()].sort((a, b) => b[1] - a[1])[0];
    return {
      class: c,
      name: model.classNames[c],
      images: ev.perClass[c].support,
      top1: ev.perClass[c].recall,
      precision: ev.perClass[c].precision,
      commonMistake: g ? { class: g[0], name: model.classNames[g[0]], images: g[1] } : null,
    };
  });
  tables.push({
    title: 'Per class',
    header: ['class', 'images', 'top-1', 'most frequent wrong guess'],
    rows: perClass.map((r) => [
      name(r.class),
      r.images,
      r.top1.toFixed(3),
      r.commonMistake ? `${name(r.commonMistake.class)} (${r.commonMistake.images})` : '–',
    ]),
  });
  const wrong = ev.misclassified.slice(0, GALLERY);
  const notes = [
    `Evaluated on ${ev.count} images${ev.skipped ? ` (${ev.skipped} unreadable skipped)` : ''}: top-1 ${(ev.accuracy * 100).toFixed(2)}%, top-${ev.topK} ${(ev.top5 * 100).toFixed(2)}%, mean cross-entropy ${ev.loss.toFixed(3)}.`,
  ];
  if (wrong.length) {
    if (ctx.stopRequested()) throw new Interrupted();
    const chunk = await data.read(wrong.map((m) => m.index));
    const images = Array.from({ length: chunk.set.count }, (_, k) => exampleImage(chunk.set, k));
    const tiles = await Promise.all(images.map((img) => fitImage(img, TILE)));
    figures.push({
      ...(await saveFigure(
        ctx.out,
        'test/misclassified.png',
        await labelledPanel(
          await labelledGrid(
            tiles,
            wrong.map((m) => ({
              title: `#${m.index}`,
              caption: [
                `true ${name(m.label)}`,
                `pred ${name(m.predicted)} ${(m.confidence * 100).toFixed(0)}%`,
              ],
            })),
            6,
          ),
          { title: `Misclassified images (first ${wrong.length} of ${ev.misclassified.length})` },
        ),
        'Misclassified images',
        'Each with its label and the model’s top guess with its probability.',
      )),
      smooth: true,
    });
    const gradcam = findMethod('gradcam');
    if (gradcam) {
      const few = wrong.slice(0, GRADCAM);
      const targets = few.flatMap((m) => [m.predicted, m.label]);
      const x = modelBatch(
        model,
        chunk.set,
        few.flatMap((_, k) => [k, k]),
      );
      const e = await gradcam
        .explain({ model: model.model, input: x, target: targets })
        .finally(() => x.dispose());
      const overlays = await Promise.all(
        targets.map((_, j) => fitImage(drawExplanation(e, j, images[j >> 1]), TILE)),
      );
      figures.push({
        ...(await saveFigure(
          ctx.out,
          'test/misclassified-gradcam.png',
          await labelledPanel(
            await labelledGrid(
              overlays,
              targets.map((t, j) => ({
                title: `#${few[j >> 1].index}`,
                caption: [`${j % 2 ? 'true' : 'pred'} ${name(t)}`],
              })),
              6,
            ),
            {
              title: `Grad-CAM (${e.layer}) of the misclassified images: for the guess, then for the true class`,
              caption: ['inferno over the image: black 0 … yellow = the 99th percentile of the map'],
            },
          ),
          'Misclassified images: Grad-CAM',
          'Pairs: evidence for the wrong guess, then for the true class.',
        )),
        smooth: true,
      });
    }
  }
  return {
    figures,
    notes,
    tables,
    numbers: {
      set: ev.set,
      count: ev.count,
      accuracy: ev.accuracy,
      top5: ev.top5,
      topK: ev.topK,
      loss: ev.loss,
      classes: present,
      confusion: confusion ?? null,
      confusionColumns: columns ?? null,
      confusedPairs: ev.confusedPairs,
      perClass,
      misclassified: ev.misclassified.map((m) => ({ ...m, source: data.source(m.index) })),
      skipped: ev.skipped,
    },
  };
}
