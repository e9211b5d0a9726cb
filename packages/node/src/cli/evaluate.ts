/** `convlens evaluate`: flags in, tasks/evaluate.ts's report out, as text or JSON. */
import { initBackend } from '@convlens/core/engine/backend';
import { JobStopped } from '@convlens/core/jobs/job';
import type { Command } from 'commander';
import { openDataset } from '../open/open-dataset.ts';
import { openModel } from '../open/open-model.ts';
import { cliJob } from '../progress/terminal-job.ts';
import { type PredictSummary, predictWithClassifier } from '../tasks/classify-predict.ts';
import { CONFUSION_MAX_CLASSES, type EvaluateReport, evaluate } from '../tasks/evaluate.ts';
import { openFeatureDataset } from '../tasks/features.ts';
import { action, backendOption, log } from './common.ts';
import {
  type DatasetFlags,
  datasetOptions,
  type ModelFlags,
  modelOptions,
  modelSource,
  openDatasetOptions,
  openModelOptions,
} from './model-options.ts';
import { positiveInt } from './options.ts';

interface EvaluateFlags extends ModelFlags, DatasetFlags {
  limit?: number;
  json?: boolean;
  classifier?: string;
  backend: Parameters<typeof initBackend>[0];
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

/** The report as text; `source` names dataset images (file paths of a folder) in the misclassified line. */
export function formatEvaluation(r: EvaluateReport, source?: (index: number) => string): string {
  const names = r.classNames;
  const lines = [
    `top-1 accuracy ${pct(r.accuracy)}  top-${r.topK} ${pct(r.top5)}  loss ${r.loss.toFixed(4)}  macro-F1 ${r.macroF1.toFixed(4)}  (${r.count} images, ${r.set})`,
  ];
  if (r.skipped) lines.push(`${r.skipped} unreadable image(s) left out`);
  if (r.confusion) {
    lines.push('', 'class           precision  recall  f1      support');
    r.perClass.forEach((s, i) => {
      lines.push(
        `${names[i].slice(0, 14).padEnd(14)}  ${s.precision.toFixed(4).padStart(9)}  ${s.recall.toFixed(4)}  ${s.f1.toFixed(4)}  ${String(s.support).padStart(7)}`,
      );
    });
    lines.push('', 'confusion matrix (rows = true class, columns = predicted):');
    const width = Math.max(4, ...r.confusion.flat().map((v) => String(v).length + 1));
    for (const row of r.confusion) lines.push(row.map((v) => String(v).padStart(width)).join(''));
  } else {
    lines.push(
      '',
      `most-confused pairs (${names.length} classes: over ${CONFUSION_MAX_CLASSES}, no confusion matrix):`,
      ...(r.confusedPairs.length
        ? r.confusedPairs.map((p) => `  ${String(p.count).padStart(5)}  ${p.labelName} → ${p.predictedName}`)
        : ['  none']),
    );
  }
  const mis = r.misclassified;
  const first = mis.slice(0, source ? 5 : 20).map((m) => (source ? source(m.index) : String(m.index)));
  const what = source ? 'first' : 'first indices';
  lines.push('', `misclassified: ${mis.length}${mis.length ? ` (${what}: ${first.join(', ')})` : ''}`);
  return lines.join('\n');
}

/** A saved classifier's evaluation (classify-predict's summary) in evaluate's report shape. */
export function classifierReport(s: PredictSummary) {
  const classNames = (s.perClass ?? []).map((p) => p.name);
  const perClass = (s.perClass ?? []).map(({ name: _n, ...p }) => p);
  const macroF1 = perClass.length ? perClass.reduce((a, p) => a + p.f1, 0) / perClass.length : undefined;
  return {
    classifier: s.classifier,
    method: s.method,
    layer: s.layer,
    count: s.images,
    scored: s.scored,
    accuracy: s.accuracy ?? null,
    macroF1: macroF1 ?? null,
    classNames,
    perClass,
    confusion: s.confusion ?? null,
    misclassified: s.predictions.filter((p) => p.label !== undefined && p.label !== p.predicted),
    seconds: s.seconds,
  };
}

export function formatClassifierEvaluation(r: ReturnType<typeof classifierReport>): string {
  const head = `classifier ${r.classifier} (${r.method} on ${r.layer}), ${r.count} images, ${r.seconds.toFixed(1)} s`;
  if (r.accuracy === null || !r.confusion)
    return `${head}\nno labels the classifier knows: no accuracy (convlens classify --classifier lists predictions)`;
  const lines = [
    head,
    `top-1 accuracy ${pct(r.accuracy)}  macro-F1 ${r.macroF1!.toFixed(4)}  (${r.scored} labelled images)`,
    '',
    'class           precision  recall  f1      support',
  ];
  r.perClass.forEach((s, i) => {
    lines.push(
      `${r.classNames[i].slice(0, 14).padEnd(14)}  ${s.precision.toFixed(4).padStart(9)}  ${s.recall.toFixed(4)}  ${s.f1.toFixed(4)}  ${String(s.support).padStart(7)}`,
    );
  });
  lines.push('', 'confusion matrix (rows = true class, columns = predicted):');
  const width = Math.max(4, ...r.confusion.flat().map((v) => String(v).length + 1));
  for (const row of r.confusion) lines.push(row.map((v) => String(v).padStart(width)).join(''));
  const mis = r.misclassified;
  lines.push(
    '',
    `misclassified: ${mis.length}${
      mis.length
        ? ` (first: ${mis
            .slice(0, 5)
            .map((m) => m.file)
            .join(', ')})`
        : ''
    }`,
  );
  return lines.join('\n');
}

export function registerEvaluateCommand(program: Command): void {
  datasetOptions(
    modelOptions(
      program
        .command('evaluate')
        .description(
          'top-1/top-5 accuracy, loss, confusion matrix and per-class P/R/F1 (≤ 20 classes) or most-confused pairs, misclassified images',
        ),
    ),
  )
    .option('--limit <n>', 'evaluate only the first N images', positiveInt('--limit'))
    .option('--json', 'print the full evaluation as JSON on stdout')
    .option(
      '--classifier <file>',
      "evaluate a saved classic classifier (classify --out's classifier.json) on the model's features instead of the model's own head",
    )
    .addOption(backendOption())
    .action(
      action(async (o: EvaluateFlags) => {
        const source = modelSource(o)!;
        await initBackend(o.backend);
        const model = await openModel(source, openModelOptions(o, log));
        const job = cliJob('evaluate', 'img');
        try {
          if (o.classifier) {
            const fd = await openFeatureDataset(o.dataset, model, openDatasetOptions(o, log));
            const s = await predictWithClassifier(
              { classifier: o.classifier, model, dataset: fd, limit: o.limit },
              job,
            );
            job.close();
            const r = classifierReport(s);
            process.stdout.write(
              o.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatClassifierEvaluation(r)}\n`,
            );
            return;
          }
          const data = await openDataset(o.dataset, model, openDatasetOptions(o, log));
          const report = await evaluate(model, data, { limit: o.limit }, job);
          job.close();
          const names = data.kind === 'image-folder' ? (i: number) => data.source(i) : undefined;
          process.stdout.write(
            o.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatEvaluation(report, names)}\n`,
          );
        } catch (err) {
          if (!(err instanceof JobStopped)) throw err;
          log('evaluate: stopped');
          process.exit(130);
        } finally {
          job.close();
          model.dispose();
        }
      }),
    );
}
