/**
 * Stage 6 on a pretrained model (part 3, explanations): every registered method that applies to the
 * model on a few dataset images, for the class the model predicts (what is it looking at when it says
 * so?), grouped by family, and the faithfulness table on other images of the dataset.
 */
import { tf } from '@convlens/core/engine/backend';
import { explainMethods } from '@convlens/core/methods/explain/registry';
import type { ExplainMethod, Explanation } from '@convlens/core/methods/explain/types';
import { type FaithfulnessTable, faithfulnessTable } from '@convlens/core/methods/faithfulness/table';
import type { RGBAImage } from '@convlens/core/render/image';
import { drawExplanation } from '@convlens/core/render/overlay';
import { labelledGrid } from '../figures/panels.ts';
import { labelledPanel } from '../io/png.ts';
import { exampleImage, fitImage, saveFigure } from './figures.ts';
import { className, type PretrainedSettings, spread } from './pretrained.ts';
import { modelBatch } from './pretrained-input.ts';
import { byClass } from './stage-pt-data.ts';
import { type Figure, Interrupted, type LabContext, type StageResult } from './types.ts';

/** Method families, each one figure (ids not listed here fall into "Other methods"). */
const FAMILIES: [string, string[]][] = [
  [
    'Class activation maps',
    [
      'cam',
      'gradcam',
      'gradcam++',
      'xgradcam',
      'layercam',
      'hirescam',
      'eigencam',
      'scorecam',
      'gradcam-elementwise',
      'eigengradcam',
      'finercam',
      'ablationcam',
      'fem',
      'fullgrad',
    ],
  ],
  [
    'Gradients and back-projections',
    ['saliency', 'gradient-x-input', 'smoothgrad', 'ig', 'guided-backprop', 'guided-gradcam', 'deconvnet'],
  ],
  ['Perturbation', ['occlusion', 'lime', 'kernel-shap']],
  ['Controls (baselines every method should beat)', ['randomcam', 'sobel']],
];

const TILE = 128;

/** Budgets for a photo model on two cores (the methods' defaults allow more). */
const methodOptions = (p: PretrainedSettings, seed: number): Record<string, Record<string, unknown>> => ({
  lime: { samples: p.samplingSamples, seed },
  'kernel-shap': { samples: p.samplingSamples, seed },
  smoothgrad: { seed, samples: p.big ? 8 : 25 },
  ig: { steps: p.big ? 16 : 64 },
});

const fmt = (v: number, d = 3) => (Number.isFinite(v) ? v.toFixed(d) : '–');

/** The model's top class for each input. */
async function predicted(model: tf.LayersModel, x: tf.Tensor4D): Promise<number[]> {
  const t = tf.tidy(() => tf.argMax(model.predict(x) as tf.Tensor2D, 1));
  const out = Array.from(await t.data());
  t.dispose();
  return out;
}

export async function ptExplainStage(ctx: LabContext): Promise<StageResult> {
  const { model, data, settings: p } = ctx.pretrained!;
  const seed = ctx.settings.seed;
  const options = methodOptions(p, seed);
  const all = Array.from({ length: data.count }, (_, i) => i);
  // One image per class first (the first of each), then more of the first classes if there are few.
  const groups = data.labelled ? [...byClass(data.labels, all).values()] : [all];
  const picks: number[] = [];
  for (let round = 0; picks.length < p.explainImages && round < data.count; round++)
    for (const g of groups)
      if (g[round] !== undefined && picks.length < p.explainImages) picks.push(g[round]);
  const chunk = await data.read(picks);
  const idx = Array.from(chunk.indices);
  const images = idx.map((_, k) => exampleImage(chunk.set, k));
  const x = modelBatch(
    model,
    chunk.set,
    idx.map((_, k) => k),
  );
  const figures: Figure[] = [];
  const notes: string[] = [];
  const tables: NonNullable<StageResult['tables']> = [];
  const perMethod: Record<string, unknown> = {};
  const applicable: ExplainMethod[] = [];
  const notApplicable: string[] = [];
  let targets: number[];
  try {
    targets = await predicted(model.model, x);
    const results = new Map<string, { e: Explanation; seconds: number }>();
    for (const m of explainMethods()) {
      if (ctx.stopRequested()) throw new Interrupted();
      const t0 = performance.now();
      try {
        const e = await m.explain({ model: model.model, input: x, target: targets, options: options[m.id] });
        const seconds = (performance.now() - t0) / 1000;
        results.set(m.id, { e, seconds });
        applicable.push(m);
        perMethod[m.id] = { seconds, layer: e.layer, signed: e.signed, warnings: e.warnings, meta: e.meta };
      } catch (err) {
        const message = (err as Error).message.split('\n')[0];
        notApplicable.push(`${m.title}: ${message}`);
        perMethod[m.id] = { error: message };
      }
    }
    const originals = await Promise.all(images.map((img) => fitImage(img, TILE)));
    const families = [...FAMILIES];
    const listed = new Set(FAMILIES.flatMap(([, ids]) => ids));
    const others = applicable.filter((m) => !listed.has(m.id)).map((m) => m.id);
    if (others.length) families.push(['Other methods', others]);
    for (const [family, ids] of families) {
      const members = ids.filter((id) => results.has(id)).map((id) => applicable.find((a) => a.id === id)!);
      if (!members.length) continue;
      // One row per image: the image, then every method of the family side by side.
      const tiles: RGBAImage[] = [];
      const labels: { title?: string; caption?: string[] }[] = [];
      for (const [k, i] of idx.entries()) {
        tiles.push(originals[k]);
        const truth = data.labelled ? className(model, data.labels[i]) : undefined;
        labels.push({
          title: `#${i}: ${className(model, targets[k])}`,
          caption: [truth ? `true ${truth}` : 'unlabelled'],
        });
        for (const m of members) {
          const r = results.get(m.id)!;
          tiles.push(await fitImage(drawExplanation(r.e, k, images[k]), TILE));
          labels.push({ title: m.title, caption: [r.e.signed ? 'signed' : '≥ 0'] });
        }
      }
      const layers = [...new Set(members.map((m) => results.get(m.id)!.e.layer).filter(Boolean))];
      const slug = family.toLowerCase().replace(/[^a-z]+/g, '-');
      figures.push({
        ...(await saveFigure(
          ctx.out,
          `part3/${slug}.png`,
          await labelledPanel(await labelledGrid(tiles, labels, members.length + 1), {
            title: `${family}${layers.length ? ` (layer ${layers.join(', ')})` : ''}: each image (left, with the model’s top class) explained for that class`,
            caption: [
              'maps ≥ 0: inferno over the image, black 0 … yellow = the 99th percentile of the map (the top 1% saturate)',
              'signed maps: blue negative, white 0, red positive, symmetric at the 99th percentile of |value|',
            ],
          }),
          family,
        )),
        smooth: true,
      });
    }
    tables.push({
      title: 'Methods',
      header: ['method', 'what it shows', 'map', 'seconds'],
      rows: applicable.map((m) => {
        const r = results.get(m.id)!;
        return [
          `${m.title}${r.e.layer ? ` (${r.e.layer})` : ''}`,
          m.description,
          r.e.signed ? 'signed (rdbu)' : '≥ 0 (inferno)',
          r.seconds.toFixed(2),
        ];
      }),
    });
    if (notApplicable.length)
      notes.push(`Methods that do not apply to this model: ${notApplicable.join('; ')}.`);
  } finally {
    x.dispose();
  }

  // Faithfulness on other images, spread over the dataset, for the predicted class.
  if (ctx.stopRequested()) throw new Interrupted();
  const fIdx = spread(data.count, p.faithfulnessImages);
  const fChunk = await data.read(fIdx);
  const fx = modelBatch(
    model,
    fChunk.set,
    Array.from(fChunk.indices, (_, k) => k),
  );
  let table: FaithfulnessTable;
  try {
    ctx.log(
      `lab: part 3: faithfulness table on ${fChunk.indices.length} images, ${applicable.length} methods`,
    );
    const job = ctx.job?.('faithfulness', 'img');
    try {
      table = await faithfulnessTable(model.model, fx, applicable, {
        steps: p.faithfulnessSteps,
        seed,
        methodOptions: options,
        randomization: p.sanityImages > 0 ? { count: p.sanityImages } : false,
        explainBatch: 8,
        onProgress: (q) => job?.onProgress?.(q.done, q.total, { method: q.method }),
      });
    } finally {
      job?.close();
    }
  } finally {
    fx.dispose();
  }
  tables.push({
    title: `Faithfulness on ${table.count} images (the predicted class as target)`,
    header: [
      'method',
      'deletion AUC ↓',
      'insertion AUC ↑',
      'insertion − deletion ↑',
      ...(p.sanityImages > 0 ? ['sanity ρ after randomizing all layers ↓'] : []),
      'ms per image',
    ],
    rows: [
      ...table.rows.map((r) => [
        `${r.title}${r.layer ? ` (${r.layer})` : ''}`,
        r.error ? `error: ${r.error}` : fmt(r.deletionAuc),
        r.error ? '' : fmt(r.insertionAuc),
        r.error ? '' : fmt(r.score),
        ...(p.sanityImages > 0
          ? [r.sanity ? `${fmt(r.sanity.correlation, 2)}${r.sanity.flagged ? ' ⚠ unchanged' : ''}` : '–']
          : []),
        r.error ? '' : r.msPerInput.toFixed(0),
      ]),
      [
        'random pixel order (baseline)',
        fmt(table.random.deletionAuc),
        fmt(table.random.insertionAuc),
        fmt(table.random.insertionAuc - table.random.deletionAuc),
        ...(p.sanityImages > 0 ? ['–'] : []),
        '–',
      ],
    ],
  });
  notes.push(
    `How to read the faithfulness table: deletion sets the pixels a map ranks highest to ${table.fill} (the model’s input space; mid-grey for a [-1, 1] model) first and follows the target probability in ${table.steps} steps; a faithful map makes it fall fast (small area). Insertion starts from that blank image and adds the top pixels first: a faithful map makes it rise fast (large area). ` +
      'Compare every row with the random pixel order at the bottom. Rows are sorted by insertion − deletion. ' +
      (p.sanityImages > 0
        ? `The sanity check (Adebayo et al.) randomizes the model’s layers from the top down on ${p.sanityImages} images: a method whose maps barely change (⚠) does not depend on what the model learned.`
        : 'The model-randomization sanity check is left out on a model this size: it re-explains every image once per weighted layer (dozens) for every method.'),
  );
  return {
    figures,
    notes,
    tables,
    numbers: {
      images: idx,
      sources: idx.map((i) => data.source(i)),
      targets: targets!,
      methods: perMethod,
      notApplicable,
      faithfulness: {
        images: Array.from(fChunk.indices),
        sources: Array.from(fChunk.indices, (i) => data.source(i)),
        table,
      },
    },
  };
}
