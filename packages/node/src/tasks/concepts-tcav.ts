/**
 * `convlens concepts tcav`: Testing with Concept Activation Vectors (Kim et al. 2018, as Captum's TCAV).
 * A concept is a folder of images (e.g. striped/); random counterparts are folders of arbitrary images.
 * At one layer, each (concept, random) pair gives a CAV: the normal of a logistic-regression boundary
 * between their flattened activations. The TCAV score of a class is the fraction of its images whose
 * class score increases along the CAV (gradient · CAV > 0). Random folders also play concepts against
 * each other: their scores are what chance gives, and a two-sided t-test of each concept's scores
 * against them says whether the concept matters (significant at 0.05 after Bonferroni over concepts).
 */

import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { batchIterator } from '@convlens/core/data/batches';
import { tf } from '@convlens/core/engine/backend';
import { fitStandardizer } from '@convlens/core/features/standardize-rows';
import { checkStop, type JobHooks } from '@convlens/core/jobs/job';
import { layerGradients } from '@convlens/core/methods/explain/layer-gradients';
import { findLayer } from '@convlens/core/models/layer-aliases';
import { fitDense } from '../classify/dense-net.ts';
import { checkOutDir } from '../figures/figure-set.ts';
import { tcavChart } from '../figures/tcav-chart.ts';
import { writeDirAtomic } from '../io/atomic.ts';
import { encodePng } from '../io/png.ts';
import { parseClassList } from '../open/class-lookup.ts';
import { type OpenDatasetOptions, openDataset } from '../open/open-dataset.ts';
import type { OpenedModel } from '../open/open-model.ts';

// jstat ships no types: only the Student t CDF is used.
const { jStat } = createRequire(import.meta.url)('jstat') as {
  jStat: { studentt: { cdf(t: number, dof: number): number } };
};

export interface TcavTaskOptions {
  layer: string;
  /** Class index or name. */
  class: string;
  /** Concept name → image folder. */
  concepts: { name: string; dir: string }[];
  /** Random folders (at least 3): counterparts of every concept, and concepts against each other for the null. */
  random: string[];
  /** Images of the class: a labelled dataset (filtered to the class) or a folder of the class's images. */
  dataset?: string;
  datasetOptions?: OpenDatasetOptions;
  /** Most images read per folder and of the class (default 50). */
  limit?: number;
  seed?: number;
  /** Significance level before the Bonferroni correction (default 0.05). */
  alpha?: number;
  out?: string;
}

export interface TcavConceptResult {
  name: string;
  dir: string;
  images: number;
  /** TCAV score against each counterpart random folder. */
  scores: number[];
  mean: number;
  std: number;
  /** Training accuracy of each CAV's classifier (how separable the concept is at this layer). */
  cavAccuracy: number[];
  t: number;
  p: number;
  significant: boolean;
}

export interface TcavResult {
  model: string;
  layer: string;
  class: number;
  className: string;
  classImages: number;
  /** Scores of random folders as concepts against each other (both orders of every pair): what chance gives. */
  random: { dirs: string[]; scores: number[]; mean: number; std: number };
  concepts: TcavConceptResult[];
  alpha: number;
  /** alpha / number of concepts. */
  bonferroniAlpha: number;
  classifier: string;
  seconds: number;
  files: string[];
}

// Softmax regression as classify's logreg, shorter: a CAV needs the boundary's direction, not calibrated odds.
const LOGREG = { hidden: [], epochs: 100, batchSize: Number.POSITIVE_INFINITY, learningRate: 0.1, l2: 1e-3 };

/** Flattened activations [n × F] (and gradients of the class score, when `target` is given) at the layer. */
async function layerRows(
  m: OpenedModel,
  layer: tf.layers.Layer,
  images: { set: import('@convlens/core/data/types').ImageSet; indices: ArrayLike<number> },
  target?: number,
): Promise<{ acts: Float32Array; grads?: Float32Array; n: number; f: number }> {
  const f = (layer.outputShape as number[]).slice(1).reduce((a, b) => a * b, 1);
  const n = images.indices.length;
  const acts = new Float32Array(n * f);
  const grads = target === undefined ? undefined : new Float32Array(n * f);
  const probe = tf.model({ inputs: m.model.inputs, outputs: layer.output as tf.SymbolicTensor });
  let o = 0;
  for (const b of batchIterator(images.set, images.indices, 16, { preprocess: m.preprocess })) {
    const [h, w, c] = m.inputShape;
    const x = tf.tensor4d(b.x, [b.size, h, w, c]);
    try {
      if (grads) {
        const r = layerGradients(m.model, layer, x, new Array(b.size).fill(target));
        acts.set(await r.acts.data(), o * f);
        grads.set(await r.grads.data(), o * f);
        tf.dispose([r.acts, r.grads]);
      } else {
        const y = tf.tidy(() => probe.predict(x) as tf.Tensor);
        acts.set(await y.data(), o * f);
        y.dispose();
      }
    } finally {
      x.dispose();
    }
    o += b.size;
  }
  return { acts, grads, n, f };
}

/** A CAV in activation units: the boundary normal of a logistic regression, concept (1) vs random (0). */
async function fitCav(
  pos: Float32Array,
  neg: Float32Array,
  f: number,
  seed: number,
): Promise<{ cav: Float64Array; accuracy: number }> {
  const np = pos.length / f;
  const nn = neg.length / f;
  const all = new Float32Array((np + nn) * f);
  all.set(pos);
  all.set(neg, pos.length);
  const rows = Array.from({ length: np + nn }, (_, i) => i);
  const s = fitStandardizer(all, f, rows);
  const x = rows.map((r) => Array.from({ length: f }, (_, j) => (all[r * f + j] - s.mean[j]) / s.std[j]));
  const y = rows.map((r) => (r < np ? 1 : 0));
  const net = await fitDense(x, y, 2, LOGREG, seed);
  try {
    const pred = net.predict(x);
    const accuracy = pred.filter((p, i) => p === y[i]).length / y.length;
    const { w } = net.state().layers[0]; // F×2, row-major
    // The boundary normal in standardized units, back in the layer's own units (divide by the std).
    const cav = Float64Array.from({ length: f }, (_, j) => (w[j * 2 + 1] - w[j * 2]) / s.std[j]);
    return { cav, accuracy };
  } finally {
    net.dispose();
  }
}

/** Fraction of rows whose gradient has a positive dot product with the CAV. */
export function tcavScore(grads: Float32Array, f: number, cav: ArrayLike<number>): number {
  const n = grads.length / f;
  let positive = 0;
  for (let i = 0; i < n; i++) {
    let d = 0;
    for (let j = 0; j < f; j++) d += grads[i * f + j] * cav[j];
    if (d > 0) positive++;
  }
  return n ? positive / n : 0;
}

const meanOf = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
const varOf = (a: number[]) => {
  const m = meanOf(a);
  return a.length > 1 ? a.reduce((s, v) => s + (v - m) ** 2, 0) / (a.length - 1) : 0;
};

/** Two-sided two-sample Student t-test with pooled variance (scipy's ttest_ind, which Captum's TCAV uses). */
export function tTest(a: number[], b: number[]): { t: number; p: number } {
  const na = a.length;
  const nb = b.length;
  if (na < 2 || nb < 2) throw new Error('the t-test needs at least two scores on each side');
  const dof = na + nb - 2;
  const sp = ((na - 1) * varOf(a) + (nb - 1) * varOf(b)) / dof;
  const diff = meanOf(a) - meanOf(b);
  if (sp === 0) return diff === 0 ? { t: 0, p: 1 } : { t: Math.sign(diff) * Number.POSITIVE_INFINITY, p: 0 };
  const t = diff / Math.sqrt(sp * (1 / na + 1 / nb));
  return { t, p: Math.min(1, 2 * (1 - jStat.studentt.cdf(Math.abs(t), dof))) };
}

const round = (x: number, d = 4) => (Number.isFinite(x) ? Number(x.toPrecision(d)) : x);

export async function tcavTask(
  m: OpenedModel,
  o: TcavTaskOptions,
  hooks: JobHooks = {},
): Promise<TcavResult> {
  const log = (s: string) => hooks.log?.(s);
  const t0 = performance.now();
  if (m.graph) throw new Error(`${m.source}: graph model: no layers for CAVs; import it as a layers model`);
  const layer = findLayer(m.model, o.layer);
  if (!layer) throw new Error(`--layer ${o.layer}: no such layer in ${m.source}`);
  if (o.concepts.length === 0) throw new Error('--concept: give at least one NAME=DIR');
  if (o.random.length < 3)
    throw new Error(
      `--random: give at least 3 folders (one plays the random concept), got ${o.random.length}`,
    );
  const [target] = parseClassList(o.class, m.classNames);
  const limit = o.limit ?? 50;
  const seed = o.seed ?? 0;
  const alpha = o.alpha ?? 0.05;
  if (o.out) await checkOutDir(o.out);
  const dopts = { ...o.datasetOptions, log };

  // Every folder's images, read before any fitting: a bad folder fails before minutes of work.
  const readFolder = async (dir: string, flag: string) => {
    const d = await openDataset(dir, m, dopts);
    if (d.count < 2) throw new Error(`${flag} ${dir}: needs at least 2 images, found ${d.count}`);
    const idx = Array.from({ length: Math.min(limit, d.count) }, (_, i) => i);
    const chunk = await d.read(idx);
    return { set: chunk.set, indices: Array.from({ length: chunk.set.count }, (_, i) => i) };
  };
  const classSet = await (async () => {
    const d = await openDataset(o.dataset, m, dopts);
    let idx = Array.from({ length: d.count }, (_, i) => i);
    if (d.labelled) idx = idx.filter((i) => d.labels[i] === target);
    if (idx.length === 0)
      throw new Error(`--dataset ${o.dataset ?? '(the run’s held-out data)'}: no images of class ${o.class}`);
    const chunk = await d.read(idx.slice(0, limit));
    return { set: chunk.set, indices: Array.from({ length: chunk.set.count }, (_, i) => i) };
  })();
  const conceptSets = [];
  for (const c of o.concepts) conceptSets.push(await readFolder(c.dir, `--concept ${c.name}=`));
  const randomSets = [];
  for (const r of o.random) randomSets.push(await readFolder(r, '--random'));

  const R = o.random.length;
  const total = o.concepts.length + R + 1 + o.concepts.length * R + (R * (R - 1)) / 2;
  let done = 0;
  const step = (detail: string) => {
    checkStop(hooks);
    hooks.onProgress?.(++done, total, { step: detail });
  };
  const cls = await layerRows(m, layer, classSet, target);
  step('class gradients');
  const conceptActs: Float32Array[] = [];
  for (const s of conceptSets) {
    conceptActs.push((await layerRows(m, layer, s)).acts);
    step('concept activations');
  }
  const randomActs: Float32Array[] = [];
  for (const s of randomSets) {
    randomActs.push((await layerRows(m, layer, s)).acts);
    step('random activations');
  }
  const f = cls.f;
  const grads = cls.grads!;
  // Concepts are scored against every random folder. The null: every random folder as a concept against
  // every other; one fit per unordered pair serves both orders (swapping the labels flips the CAV).
  const rndScores: number[] = [];
  for (let a = 0; a < randomActs.length; a++) {
    for (let b = a + 1; b < randomActs.length; b++) {
      const { cav } = await fitCav(randomActs[a], randomActs[b], f, seed + 1000 * a + b);
      rndScores.push(
        tcavScore(grads, f, cav),
        tcavScore(
          grads,
          f,
          cav.map((v) => -v),
        ),
      );
      step(`CAV random ${a} vs random ${b}`);
    }
  }
  const concepts: TcavConceptResult[] = [];
  const bonferroniAlpha = alpha / o.concepts.length;
  for (const [i, c] of o.concepts.entries()) {
    const scores: number[] = [];
    const accuracy: number[] = [];
    for (let r = 0; r < randomActs.length; r++) {
      const fit = await fitCav(conceptActs[i], randomActs[r], f, seed + r);
      scores.push(tcavScore(grads, f, fit.cav));
      accuracy.push(fit.accuracy);
      step(`CAV ${c.name} vs random ${r}`);
    }
    const { t, p } = tTest(scores, rndScores);
    concepts.push({
      name: c.name,
      dir: c.dir,
      images: conceptSets[i].indices.length,
      scores: scores.map((v) => round(v)),
      mean: round(meanOf(scores)),
      std: round(Math.sqrt(varOf(scores))),
      cavAccuracy: accuracy.map((v) => round(v)),
      t: round(t),
      p: round(p),
      significant: p < bonferroniAlpha,
    });
  }
  const result: TcavResult = {
    model: m.source,
    layer: layer.name,
    class: target,
    className: m.classNames[target] ?? String(target),
    classImages: cls.n,
    random: {
      dirs: o.random,
      scores: rndScores.map((v) => round(v)),
      mean: round(meanOf(rndScores)),
      std: round(Math.sqrt(varOf(rndScores))),
    },
    concepts,
    alpha,
    bonferroniAlpha: round(bonferroniAlpha),
    classifier: 'logistic regression (tfjs, L2 1e-3, 100 full-batch Adam steps) on standardized activations',
    seconds: round((performance.now() - t0) / 1000),
    files: o.out ? ['tcav.png', 'tcav.json'] : [],
  };
  if (o.out) {
    const png = await encodePng(await tcavChart(result));
    await writeDirAtomic(o.out, async (dir) => {
      await writeFile(join(dir, 'tcav.png'), png);
      await writeFile(join(dir, 'tcav.json'), `${JSON.stringify(result, null, 2)}\n`);
      await writeFile(
        join(dir, 'index.json'),
        `${JSON.stringify({ kind: 'tcav', files: result.files }, null, 2)}\n`,
      );
    });
  }
  return result;
}

export function tcavSummary(r: TcavResult, out?: string): string {
  const lines = r.concepts.map(
    (c) =>
      `  ${c.name}: TCAV ${c.mean.toFixed(2)} ± ${c.std.toFixed(2)} (random ${r.random.mean.toFixed(2)}), p = ${c.p}${c.significant ? ' — significant' : ' — not significant'} (CAV accuracy ${meanOf(c.cavAccuracy).toFixed(2)})`,
  );
  return `TCAV of class ${r.className} at ${r.layer} (${r.classImages} images; Bonferroni α = ${r.bonferroniAlpha}):\n${lines.join('\n')}${out ? `\nwrote tcav.png and tcav.json to ${out}` : ''}`;
}
