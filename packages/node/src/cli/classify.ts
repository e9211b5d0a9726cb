/**
 * `convlens classify`: a classic classifier on a features folder (cross-validated, tested, saved), or,
 * with --classifier, a saved classifier run on new images through its model. Flags only; the jobs are
 * tasks/classify.ts and tasks/classify-predict.ts.
 */
import { type BackendName, initBackend } from '@convlens/core/engine/backend';
import { type Command, Option } from 'commander';
import { CLASSIFY_METHODS, type ClassifyMethod } from '../classify/methods.ts';
import { openModel } from '../open/open-model.ts';
import { cliJob } from '../progress/terminal-job.ts';
import { type ClassifySummary, classifyFeatures } from '../tasks/classify.ts';
import { type PredictSummary, predictWithClassifier } from '../tasks/classify-predict.ts';
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
import { nonNegativeInt, numberIn, oneOf, positiveInt } from './options.ts';

type Flags = ModelFlags & DatasetFlags & { backend: BackendName } & Record<string, any>;

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

function perClassTable(
  rows: { name: string; precision: number; recall: number; f1: number; support: number }[],
) {
  const w = Math.max(5, ...rows.map((r) => r.name.length));
  return [
    `  ${'class'.padEnd(w)}  precision  recall     F1  support`,
    ...rows.map(
      (r) =>
        `  ${r.name.padEnd(w)}  ${pct(r.precision).padStart(9)}  ${pct(r.recall).padStart(6)}  ${pct(r.f1).padStart(5)}  ${String(r.support).padStart(7)}`,
    ),
  ];
}

function confusionTable(names: string[], m: number[][]) {
  const w = Math.max(5, ...m.flat().map((v) => String(v).length));
  return [
    '  confusion (rows: true class, columns: predicted, in class order)',
    ...m.map((row, i) => `  ${row.map((v) => String(v).padStart(w)).join(' ')}  ${names[i]}`),
  ];
}

export function formatClassify(s: ClassifySummary): string {
  return [
    `classify: ${s.method} (${s.library}; ${s.settings})`,
    `  features: ${s.features.dir} — ${s.features.layer} (${s.features.pool}), ${s.features.rows} × ${s.features.f}, model ${s.features.model}`,
    `  split: ${s.train} train / ${s.test} test (${s.split})`,
    s.cv
      ? `  ${s.cv.folds}-fold CV on train: ${pct(s.cv.mean)} ± ${pct(s.cv.std)} (${s.cv.seconds.toFixed(1)} s)`
      : '  no cross-validation',
    `  test accuracy: ${pct(s.accuracy)} (chance ${pct(s.chance)}), macro F1 ${pct(s.macroF1)}; fit ${s.fitSeconds.toFixed(2)} s, predict ${s.predictSeconds.toFixed(2)} s`,
    ...perClassTable(s.perClass),
    ...confusionTable(s.classes, s.confusion),
  ].join('\n');
}

export function formatPredict(s: PredictSummary): string {
  const counts = new Map<string, number>();
  for (const p of s.predictions) counts.set(p.predicted, (counts.get(p.predicted) ?? 0) + 1);
  return [
    `classify: ${s.method} classifier ${s.classifier} on ${s.images} images (layer ${s.layer}, ${s.seconds.toFixed(1)} s)`,
    s.accuracy !== undefined
      ? `  accuracy ${pct(s.accuracy)} on ${s.scored} labelled images`
      : '  no labels the classifier knows: predictions only',
    `  predicted: ${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}`,
    ...(s.perClass ? perClassTable(s.perClass) : []),
  ].join('\n');
}

export function registerClassifyCommand(program: Command): void {
  datasetOptions(
    modelOptions(
      program
        .command('classify')
        .usage('--features DIR --method M [options]  |  --classifier FILE --model SOURCE --dataset D')
        .description(
          'train and cross-validate a classic classifier on CNN features (`convlens features`), test it on the ' +
            'held-out split and save it; with --classifier, run a saved one on new images',
        ),
      { required: false },
    ),
    'images to classify with --classifier (an image folder or IDX dataset)',
  )
    .option('--features <dir>', 'a features folder (convlens features --out)')
    .addOption(
      new Option('--method <m>', 'classifier').argParser(oneOf('method', CLASSIFY_METHODS)).default('logreg'),
    )
    .option('--cv <k>', 'cross-validation folds on the train rows (0: none)', nonNegativeInt('--cv'), 5)
    .option('--seed <n>', 'seed of folds, splits and training', nonNegativeInt('--seed'), 1)
    .option(
      '--test-fraction <f>',
      'test share when the features hold one split only',
      numberIn('--test-fraction', 0, 1, true),
      0.2,
    )
    .option('--classifier <file>', 'a saved classifier.json: classify --dataset images with it')
    .option('--limit <n>', 'with --classifier: only the first N images', positiveInt('--limit'))
    .option('--out <dir>', 'classifier.json + result.json (with --classifier: predictions.csv)')
    .option('--json', 'print the result as JSON')
    .addOption(backendOption())
    .action(
      action(async (o: Flags) => {
        await initBackend(o.backend);
        const job = cliJob('classify', o.classifier ? 'img' : 'steps', log);
        try {
          if (o.classifier) {
            const source = modelSource(o);
            if (!source) throw new Error('--classifier needs --model (the model its features came from)');
            const m = await openModel(source, openModelOptions(o, log));
            try {
              const dataset = await openFeatureDataset(o.dataset, m, openDatasetOptions(o, log));
              const s = await predictWithClassifier(
                { classifier: o.classifier, model: m, dataset, limit: o.limit, out: o.out },
                job,
              );
              job.close();
              process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatPredict(s)}\n`);
            } finally {
              m.dispose();
            }
            return;
          }
          if (!o.features)
            throw new Error("required option '--features <dir>' not specified (or --classifier)");
          const source = modelSource(o, false);
          const m = source ? await openModel(source, openModelOptions(o, log)) : undefined;
          try {
            const s = await classifyFeatures(
              {
                features: o.features,
                method: o.method as ClassifyMethod,
                cv: o.cv,
                seed: o.seed,
                testFraction: o.testFraction,
                out: o.out,
                model: m,
              },
              job,
            );
            job.close();
            process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatClassify(s)}\n`);
          } finally {
            m?.dispose();
          }
        } catch (err) {
          if ((err as Error)?.name === 'JobStopped') {
            job.close();
            log('classify: stopped; nothing was written');
            process.exit(130);
          }
          throw err;
        } finally {
          job.close();
        }
      }),
    );
}
