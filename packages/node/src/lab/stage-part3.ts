/**
 * Stage 6 (part 3, explanations): the lab's GAP model for CAM (the run's model cut at its last conv
 * block, GAP + dense head trained on the same data, accuracy against the original), every registered
 * method side by side on chosen digits (rows = methods, columns = digits; CAM on the GAP model, the
 * rest on the trained model), the CAM = Grad-CAM identity on the GAP model, and the faithfulness
 * table (deletion/insertion AUC against random orders, model-randomization sanity check).
 */
import { dirname, join } from 'node:path';
import { tf } from '@convlens/core/engine/backend';
import { JobStopped } from '@convlens/core/jobs/job';
import { pickLayer } from '@convlens/core/methods/explain/common';
import { explainMethods } from '@convlens/core/methods/explain/registry';
import type { ExplainMethod, Explanation } from '@convlens/core/methods/explain/types';
import { pearson } from '@convlens/core/methods/faithfulness/rank-correlation';
import { type FaithfulnessTable, faithfulnessTable } from '@convlens/core/methods/faithfulness/table';
import { camHead } from '@convlens/core/models/cam-head';
import { grid, type RGBAImage } from '@convlens/core/render/image';
import { drawExplanation } from '@convlens/core/render/overlay';
import { stack } from '../figures/panels.ts';
import { labelledPanel } from '../io/png.ts';
import { openModel } from '../open/open-model.ts';
import { type CamHeadSummary, camHeadCommand } from '../tasks/cam-head.ts';
import { loadRun } from '../train/load-run.ts';
import { deconvTop9 } from './deconv-top9.ts';
import { explainBatch } from './explain.ts';
import { exampleImage, firstOfClasses, modelInput, saveFigure } from './figures.ts';
import { classNamesOf, heldOut, labPlan } from './plan.ts';
import type { LabSettings } from './settings.ts';
import { type Figure, Interrupted, type LabContext, type StageResult } from './types.ts';

/** The lab's methods (issue 8, part 3) by registry id, in the order the report shows them. */
export const LAB_METHODS: [string, string][] = [
  ['cam', 'CAM'],
  ['gradcam', 'Grad-CAM'],
  ['guided-gradcam', 'Guided Grad-CAM'],
  ['saliency', 'Saliency'],
  ['smoothgrad', 'SmoothGrad'],
  ['ig', 'Integrated gradients'],
  ['deconvnet', 'DeconvNet'],
  ['occlusion', 'Occlusion'],
];

/** Methods that run on the GAP model rather than the trained one. */
const ON_GAP_MODEL = new Set(['cam']);

/** Options sized for 28×28 digits (the methods' defaults are sized for photos). */
const methodOptions = (s: LabSettings): Record<string, Record<string, unknown>> => ({
  lime: { samples: s.samplingSamples, seed: s.seed },
  'kernel-shap': { samples: s.samplingSamples, seed: s.seed },
  smoothgrad: { seed: s.seed, samples: s.quick ? 8 : 16 },
  ig: { steps: s.quick ? 16 : 32 },
});

/** Filters of the conv layer the GAP model adds before its GAP (Zhou et al. add one too). */
export const CAM_CONV_FILTERS = 128;

/**
 * The GAP model, trained once per lab run (its own run directory beside the lab's run): the trained
 * model cut where its dense head starts (the last spatial layer), a new 3×3 conv of 128 filters, GAP
 * and dense. Without the new conv, pw11's last conv features (5×5-pixel receptive fields) averaged
 * over the image barely tell digits apart: 11–37% after 2 epochs, against 91% with it (measured).
 */
async function gapModel(ctx: LabContext, layer: string): Promise<CamHeadSummary> {
  const model = await openModel(ctx.runDir);
  try {
    return await camHeadCommand(
      {
        model,
        out: join(dirname(ctx.runDir), 'run-cam'),
        layer,
        conv: CAM_CONV_FILTERS,
        lr: 0.005,
        batchSize: 64,
        epochs: ctx.settings.camEpochs,
        force: true,
        dataDir: ctx.dataDir,
        download: ctx.download ?? true,
      },
      { shouldStop: ctx.stopRequested },
    );
  } catch (err) {
    throw err instanceof JobStopped ? new Interrupted() : err;
  } finally {
    model.dispose();
  }
}

const fmt = (v: number, d = 3) => (Number.isFinite(v) ? v.toFixed(d) : '–');

function faithfulnessRows(tables: [string, FaithfulnessTable][]): (string | number)[][] {
  const rows = tables.flatMap(([model, t]) => t.rows.map((r) => ({ model, t, r })));
  rows.sort((a, b) => (b.r.error ? -1 : b.r.score) - (a.r.error ? -1 : a.r.score));
  return rows.map(({ model, t, r }) => [
    `${r.title}${model === 'gap' ? ' (GAP model)' : ''}`,
    r.error ? `error: ${r.error}` : fmt(r.deletionAuc),
    r.error ? '' : fmt(r.insertionAuc),
    r.error ? '' : fmt(r.score),
    `${fmt(t.random.deletionAuc)} / ${fmt(t.random.insertionAuc)}`,
    r.sanity ? `${fmt(r.sanity.correlation, 2)}${r.sanity.flagged ? ' ⚠ unchanged' : ''}` : '–',
    r.error ? '' : r.msPerInput.toFixed(1),
  ]);
}

export async function part3Stage(ctx: LabContext): Promise<StageResult> {
  const s = ctx.settings;
  const plan = await labPlan(ctx);
  const names = classNamesOf(plan);
  const set = heldOut(plan);
  const idx = firstOfClasses(set, s.explainDigits);
  const targets = idx.map((i) => set.labels[i]);
  const shape: [number, number, number] = [set.height, set.width, set.channels];
  const methods = explainMethods();
  const registered = new Set(methods.map((m) => m.id));
  const missing = LAB_METHODS.filter(([id]) => !registered.has(id)).map(([, t]) => t);
  const options = methodOptions(s);
  const figures: Figure[] = [];
  const notes: string[] = [];
  const tables: NonNullable<StageResult['tables']> = [];
  const numbers: Record<string, unknown> = { digits: s.explainDigits, indices: idx };
  const perMethod: Record<string, unknown> = {};
  numbers.methods = perMethod;

  ctx.log('lab: part 3: training the GAP head of the CAM model');
  const cut = await (async () => {
    const r = await loadRun(ctx.runDir);
    try {
      return pickLayer(r.model).layer.name;
    } finally {
      r.model.dispose();
    }
  })();
  const gap = await gapModel(ctx, cut);
  numbers.gapModel = gap;
  notes.push(
    `The GAP model for CAM: the trained ${s.model} cut after '${cut}' (where its dense head starts), a new 3×3 conv layer of ${CAM_CONV_FILTERS} filters ('${gap.layer}', as Zhou et al. add one), global average pooling and one dense softmax layer; ` +
      `the base frozen and the new layers trained ${gap.epochs} epoch(s) on the same training data: ${gap.set} accuracy ` +
      `${(gap.accuracy * 100).toFixed(2)}% against ${(gap.baseAccuracy * 100).toFixed(2)}% for the original on the same ${gap.count} images. ` +
      'CAM reads its maps straight off the dense weights: Σ_k w_k,class · A_k over the new conv layer’s feature maps.',
  );

  const run = await loadRun(ctx.runDir);
  const camRun = await loadRun(gap.run);
  try {
    const modelFor = (m: ExplainMethod) => (ON_GAP_MODEL.has(m.id) ? camRun.model : run.model);
    const x = modelInput(set, idx, run.standardizer);
    const rows: RGBAImage[] = [];
    const descriptions: (string | number)[][] = [];
    const failed: string[] = [];
    for (const m of methods) {
      if (ctx.stopRequested()) throw new Interrupted();
      const t0 = performance.now();
      let e: Explanation;
      try {
        e = await explainBatch(m, modelFor(m), x, shape, targets, options[m.id]);
      } catch (err) {
        // One broken method must not sink the report: say so, keep the others.
        const message = (err as Error).message.split('\n')[0];
        failed.push(`${m.title}: ${message}`);
        perMethod[m.id] = { error: message };
        continue;
      }
      const seconds = (performance.now() - t0) / 1000;
      perMethod[m.id] = { seconds, layer: e.layer, signed: e.signed, warnings: e.warnings, meta: e.meta };
      const onGap = ON_GAP_MODEL.has(m.id) ? ' (GAP model)' : '';
      descriptions.push([
        `${m.title}${onGap}`,
        m.description,
        e.signed ? 'signed (rdbu)' : '≥ 0 (inferno)',
        seconds.toFixed(2),
      ]);
      const tiles = idx.map((i, k) => drawExplanation(e, k, exampleImage(set, i), 3));
      rows.push(
        await labelledPanel(grid(tiles, { columns: idx.length, gap: 6, background: [255, 255, 255, 255] }), {
          title: `${m.title}${onGap}${e.layer ? ` (layer ${e.layer})` : ''}`,
          fontSize: 12,
        }),
      );
    }
    if (rows.length)
      figures.push(
        await saveFigure(
          ctx.out,
          'part3/methods.png',
          await labelledPanel(stack(rows, 6), {
            title: 'Explanations for the true class: one row per method',
            caption: [
              `columns, left to right: digits ${targets.map((t) => names[t]).join(', ')} (held-out images ${idx.join(', ')})`,
              'non-negative maps: inferno over the digit, black 0 … yellow = the map’s max',
              'signed maps: blue negative, white 0, red positive (symmetric per map)',
            ],
          }),
          'Explanation methods side by side',
        ),
      );
    if (failed.length) notes.push(`Methods that failed on this model: ${failed.join('; ')}.`);
    if (ctx.stopRequested()) throw new Interrupted();
    const top9 = await deconvTop9(run.model, cut, set, s.statsImages, s.quick ? 2 : 4, run.standardizer);
    numbers.deconvTop9 = { layer: top9.layer, channels: top9.channels };
    figures.push(
      await saveFigure(
        ctx.out,
        'part3/deconvnet-top9.png',
        top9.figure,
        'DeconvNet: top-9 projections per channel',
      ),
    );
    notes.push(
      'Guided backprop and DeconvNet differ only at the ReLUs: guided backprop passes a gradient where the forward input was positive and the gradient is positive; DeconvNet where the backward signal is positive, whatever the forward input. Compare their rows: DeconvNet’s pictures are less tied to this particular digit.',
    );
    tables.push({
      title: 'Methods',
      header: ['method', 'what it shows', 'map', 'seconds'],
      rows: descriptions,
    });

    // The identity CAM = Grad-CAM on a GAP + dense network, measured on the lab's GAP model.
    const gradcam = methods.find((m) => m.id === 'gradcam');
    const camMethod = methods.find((m) => m.id === 'cam');
    if (gradcam && camMethod) {
      const layer = camHead(camRun.model).featureLayer.name;
      const a = await explainBatch(camMethod, camRun.model, x, shape, targets);
      const input = tf.tensor4d(x, [targets.length, ...shape]);
      const b = await gradcam
        .explain({ model: camRun.model, input, target: targets, layer })
        .finally(() => input.dispose());
      const r = a.maps.map((m, i) => pearson(m, b.maps[i]));
      numbers.camGradcamCorrelation = r;
      notes.push(
        `Check of a known identity: on the GAP model, Grad-CAM at '${layer}' equals CAM up to a positive scale; ` +
          `Pearson correlation per digit: ${r.map((v) => v.toFixed(4)).join(', ')}.`,
      );
    }

    // Faithfulness: every method on the same held-out images, against random pixel orders.
    if (ctx.stopRequested()) throw new Interrupted();
    const n = Math.min(s.faithfulnessImages, set.count);
    const fIdx = Array.from({ length: n }, (_, i) => Math.floor((i * set.count) / n));
    const fTargets = fIdx.map((i) => set.labels[i]);
    const fx = tf.tensor4d(modelInput(set, fIdx, run.standardizer), [n, ...shape]);
    try {
      const common = {
        targets: fTargets,
        seed: s.seed,
        methodOptions: options,
        randomization: { count: Math.min(s.sanityImages, n) },
      };
      let last = 0;
      const onProgress = (p: { method: string; done: number; total: number }) => {
        if (p.done - last >= p.total / 10 || p.done === p.total) {
          last = p.done;
          ctx.log(`lab: faithfulness ${p.done}/${p.total} (${p.method})`);
        }
      };
      ctx.log(`lab: part 3: faithfulness table on ${n} held-out images`);
      const main = await faithfulnessTable(
        run.model,
        fx,
        methods.filter((m) => !ON_GAP_MODEL.has(m.id)),
        { ...common, onProgress },
      );
      const onGap = methods.filter((m) => ON_GAP_MODEL.has(m.id));
      const gapTable = onGap.length ? await faithfulnessTable(camRun.model, fx, onGap, common) : undefined;
      numbers.faithfulness = { main, gap: gapTable };
      tables.push({
        title: `Faithfulness on ${n} held-out images (true class as target)`,
        header: [
          'method',
          'deletion AUC ↓',
          'insertion AUC ↑',
          'insertion − deletion ↑',
          'random order (del / ins)',
          'sanity ρ after randomizing all layers ↓',
          'ms per image',
        ],
        rows: faithfulnessRows([
          ['main', main],
          ...(gapTable ? [['gap', gapTable] as [string, FaithfulnessTable]] : []),
        ]),
      });
      notes.push(
        `How to read the faithfulness table: deletion removes the pixels a map ranks highest first (set to 0) and follows the target probability in ${main.steps} steps; a faithful map makes it fall fast (small area). ` +
          'Insertion starts from a blank image and adds the top pixels first: a faithful map makes the probability rise fast (large area). ' +
          'Both are compared with random pixel orders. The sanity check (Adebayo et al.) randomizes the model’s layers from the top down and measures the Spearman correlation of the new maps with the original ones ' +
          `on ${common.randomization.count} images: a method whose maps barely change (⚠) does not depend on what the model learned. ` +
          'Rows are sorted by insertion − deletion.',
      );
    } finally {
      fx.dispose();
    }
  } finally {
    run.model.dispose();
    camRun.model.dispose();
  }
  if (missing.length)
    notes.push(`Not available yet: ${missing.join(', ')} (not registered in methods/explain/registry.ts).`);
  return { figures, notes, tables, numbers: { ...numbers, missing } };
}
