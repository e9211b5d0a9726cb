import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { getExplainMethod } from '../src/methods/explain/registry.ts';
import { explainerOf } from '../src/metrics/explainer.ts';
import { getMetric } from '../src/metrics/registry.ts';
import type { MetricContext, MetricResult } from '../src/metrics/types.ts';

const H = 8;
const W = 8;
const n = H * W;
const TL = Uint8Array.from({ length: n }, (_, p) => (p % W < 4 && Math.floor(p / W) < 4 ? 1 : 0));
const BR = Uint8Array.from({ length: n }, (_, p) => (p % W >= 4 && Math.floor(p / W) >= 4 ? 1 : 0));

/** Linear scores (no softmax): flatten → dense with these weights per class [n][classes] and bias. */
function linear(weights: number[][], bias?: number[]): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.flatten({ inputShape: [H, W, 1] }));
  const init = bias ? [tf.tensor2d(weights), tf.tensor1d(bias)] : [tf.tensor2d(weights)];
  m.add(tf.layers.dense({ units: weights[0].length, useBias: !!bias, weights: init }));
  tf.dispose(init); // the layer keeps its own copies
  return m;
}

/** Class 0 reads the top-left quadrant (sum of its pixels); class 1 reads nothing. */
const quadrantModel = () => linear(Array.from(TL, (q) => [q, 0]));

function seeded(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}
const rand = seeded(7);
const signedWeights = Array.from({ length: n }, () => [rand() * 2 - 1, rand() * 2 - 1, rand() * 2 - 1]);

let before = 0;
const models: tf.LayersModel[] = [];
const keep = <T extends tf.LayersModel>(m: T) => {
  models.push(m);
  return m;
};

async function compute(
  id: string,
  ctx: MetricContext,
  options?: Record<string, unknown>,
): Promise<MetricResult> {
  const t0 = tf.memory().numTensors;
  const r = await getMetric(id).compute(ctx, options);
  expect(tf.memory().numTensors, `${id} leaks tensors`).toBe(t0);
  return r;
}

describe('metrics on constructed models', () => {
  let ones: tf.Tensor4D;
  let x: tf.Tensor4D;
  beforeAll(async () => {
    await initBackend('wasm');
    before = tf.memory().numTensors;
    ones = tf.ones([2, H, W, 1]);
    x = tf.tensor4d(
      Array.from({ length: 2 * n }, () => 0.2 + rand()),
      [2, H, W, 1],
    );
  });
  afterAll(() => {
    ones.dispose();
    x.dispose();
    for (const m of models) m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('deletion, insertion, region perturbation: a map on the quadrant the model reads wins, with the exact numbers', async () => {
    const model = keep(quadrantModel());
    const ctx: MetricContext = {
      model,
      input: ones,
      targets: [0, 0],
      maps: [Float32Array.from(TL), Float32Array.from(BR)],
    };
    // steps 4 = one quadrant (16 px) per chunk. TL map: 16,0,0,0,0 → AUC 2. BR map, then index order: 16,16,8,0,0 → 8.
    expect((await compute('deletion', ctx, { steps: 4 })).values).toEqual([2, 8]);
    expect((await compute('insertion', ctx, { steps: 4 })).values[0]).toBeCloseTo(14, 6);
    // 4 patches of 4×4; AOPC = mean of 16 − f_k over k = 0…4: TL (0+16·4)/5, BR (0+0+16·3)/5.
    const rp = await compute('region-perturbation', ctx, { patch: 4 });
    expect(rp.values[0]).toBeCloseTo(12.8, 5);
    expect(rp.values[1]).toBeCloseTo(9.6, 5);
    // Average drop: the TL map keeps what the model reads (0%), the BR map hides it all (100%).
    const drop = await compute('average-drop', ctx);
    expect(drop.values[0]).toBeCloseTo(0, 5);
    expect(drop.values[1]).toBeCloseTo(100, 5);
    expect((await compute('increase-in-confidence', ctx)).values).toEqual([0, 0]);
    // Adding pixels never lowers a sum of non-negative weights on positive pixels: monotonic.
    expect((await compute('monotonicity', ctx)).values).toEqual([1, 1]);
  });

  it('IROF and ROAD prefer the quadrant map; ROAD rank abs removes strong negative evidence first', async () => {
    const model = keep(quadrantModel());
    const img = tf.tensor4d(
      Array.from({ length: 2 * n }, (_, i) => (TL[i % n] ? 1 : 0.1 * rand())),
      [2, H, W, 1],
    );
    try {
      const ctx: MetricContext = {
        model,
        input: img,
        targets: [0, 0],
        maps: [Float32Array.from(TL), Float32Array.from(BR)],
      };
      const ir = await compute('irof', ctx);
      expect(ir.values[0]).toBeGreaterThan(ir.values[1] + 0.2);
      const road = await compute('road', ctx);
      expect(road.values[0]).toBeGreaterThan(road.values[1] + 0.1);
      // The quadrant marked strongly negative: signed ranking removes it last, |a| ranking first.
      const neg = Float32Array.from(TL, (q) => (q ? -1 : 0.01));
      const nctx: MetricContext = { ...ctx, maps: [neg, neg] };
      const signed = await compute('road', nctx, { rank: 'signed' });
      const abs = await compute('road', nctx, { rank: 'abs' });
      expect(abs.detail?.rank).toBe('abs');
      expect(abs.mean).toBeGreaterThan(signed.mean + 0.1);
      expect(signed.mean).toBeLessThan(0);
    } finally {
      img.dispose();
    }
  });

  it('a linear model: gradient×input has infidelity 0 and faithfulness correlation 1; IG has completeness gap 0', async () => {
    const model = keep(linear(signedWeights));
    const gxi = getExplainMethod('gradient-x-input');
    const targets = [0, 2];
    const e = await gxi.explain({ model, input: x, target: targets });
    const ctx: MetricContext = { model, input: x, targets, maps: e.maps };
    const inf = await compute('infidelity', ctx);
    expect(inf.values[0]).toBeLessThan(1e-9);
    expect(inf.values[1]).toBeLessThan(1e-9);
    // Normalised infidelity ignores the map's scale; the raw one does not.
    const scaled = { ...ctx, maps: e.maps.map((m) => m.map((v) => 10 * v)) };
    expect((await compute('infidelity', scaled)).values[0]).toBeLessThan(1e-9);
    expect((await compute('infidelity', scaled, { normalize: false })).values[0]).toBeGreaterThan(0.1);
    const fc = await compute('faithfulness-correlation', ctx, { runs: 20, subset: 16 });
    expect(fc.values[0]).toBeCloseTo(1, 5);
    // Saliency (|gradient|) ignores sign and input: a worse first-order model of the score.
    const sal = await getExplainMethod('saliency').explain({ model, input: x, target: targets });
    expect((await compute('infidelity', { ...ctx, maps: sal.maps })).values[0]).toBeGreaterThan(0.01);
    expect(
      (await compute('faithfulness-correlation', { ...ctx, maps: sal.maps }, { runs: 20, subset: 16 }))
        .values[0],
    ).toBeLessThan(0.95);
    // Completeness: Σ IG = f(x) − f(0) for a linear model; the saliency map's sum is unrelated.
    const ig = await getExplainMethod('ig').explain({ model, input: x, target: targets });
    const comp = await compute('completeness', { ...ctx, maps: ig.maps });
    expect(comp.values[0]).toBeLessThan(1e-4);
    expect(comp.values[1]).toBeLessThan(1e-4);
    expect((await compute('completeness', { ...ctx, maps: sal.maps })).values[0]).toBeGreaterThan(0.1);
  });

  it('robustness: a linear model’s gradient does not move under noise; gradient×input moves by |w| per unit of noise', async () => {
    // Every weight 2: gradient×input changes by exactly 2·noise, so the Lipschitz estimate is 2.
    const model = keep(linear(Array.from({ length: n }, () => [2, -1])));
    const targets = [0, 0];
    for (const [id, expected] of [
      ['saliency', 0],
      ['gradient-x-input', 2],
    ] as const) {
      const method = getExplainMethod(id);
      const e = await method.explain({ model, input: x, target: targets });
      const ctx: MetricContext = {
        model,
        input: x,
        targets,
        maps: e.maps,
        explain: explainerOf(method, model),
      };
      expect((await compute('local-lipschitz', ctx, { samples: 3 })).values[0]).toBeCloseTo(expected, 4);
      const ms = await compute('max-sensitivity', ctx, { samples: 3 });
      if (expected === 0) expect(ms.values[0]).toBeCloseTo(0, 6);
      else expect(ms.values[0]).toBeGreaterThan(0.005);
    }
  });

  it('randomisation: a model-free map survives randomisation and ignores the class; the gradient does not', async () => {
    const model = keep(linear(signedWeights));
    const targets = [0, 1];
    // "Explains" by returning the input: the model and class never enter (an edge detector would do the same).
    const copyInput = async (r: { input: tf.Tensor4D }) => {
      const v = (await r.input.data()) as Float32Array;
      return [v.slice(0, n), v.slice(n, 2 * n)];
    };
    const v = (await x.data()) as Float32Array;
    const free: MetricContext = {
      model,
      input: x,
      targets,
      maps: [v.slice(0, n), v.slice(n)],
      explain: copyInput,
    };
    expect((await compute('model-randomisation', free)).values).toEqual([1, 1]);
    expect((await compute('random-logit', free)).values[0]).toBeCloseTo(1, 6);
    const method = getExplainMethod('gradient-x-input');
    const e = await method.explain({ model, input: x, target: targets });
    const grad: MetricContext = {
      model,
      input: x,
      targets,
      maps: e.maps,
      explain: explainerOf(method, model),
    };
    const mr = await compute('model-randomisation', grad, { cascade: true });
    expect(Math.abs(mr.mean)).toBeLessThan(0.5);
    expect((mr.detail as { steps: unknown[] }).steps.length).toBe(1); // one weighted layer
    expect((await compute('random-logit', grad)).mean).toBeLessThan(0.5);
  });

  it('input invariance: the gradient is invariant to a compensated shift, gradient×input is not', async () => {
    const model = keep(linear(signedWeights, [0.5, -0.2, 0.1]));
    const targets = [0, 1];
    const res: number[] = [];
    for (const id of ['saliency', 'gradient-x-input']) {
      const method = getExplainMethod(id);
      const e = await method.explain({ model, input: x, target: targets });
      const ctx: MetricContext = {
        model,
        input: x,
        targets,
        maps: e.maps,
        explain: explainerOf(method, model),
      };
      res.push((await compute('input-invariance', ctx, { shift: -0.5 })).values[0]);
    }
    expect(res[0]).toBeLessThan(1e-5);
    expect(res[1]).toBeGreaterThan(0.1);
  });

  it('input invariance through a bias-free conv and its batch norm (MobileNet’s first block)', async () => {
    // Fixed weights: a local mean and its negative. Inputs lie in 0.2…1.2, so a shift of −1 turns the
    // first relu off and the second on, unless the batch norm compensates.
    const kernel = tf.tensor4d(Array.from({ length: 9 }, () => [1 / 9, -1 / 9]).flat(), [3, 3, 1, 2]);
    const r = seeded(11);
    const dense = tf.tensor2d(
      Array.from({ length: 72 * 3 }, () => r() * 2 - 1),
      [72, 3],
    );
    const m = tf.sequential();
    m.add(
      tf.layers.conv2d({
        inputShape: [H, W, 1],
        filters: 2,
        kernelSize: 3,
        useBias: false,
        weights: [kernel],
      }),
    );
    m.add(tf.layers.batchNormalization());
    m.add(tf.layers.activation({ activation: 'relu' })); // else the gradient ignores any shift
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 3, useBias: false, weights: [dense] }));
    tf.dispose([kernel, dense]);
    const model = keep(m);
    const method = getExplainMethod('saliency');
    const targets = [0, 2];
    const e = await method.explain({ model, input: x, target: targets });
    const ctx: MetricContext = {
      model,
      input: x,
      targets,
      maps: e.maps,
      explain: explainerOf(method, model),
    };
    const res = await compute('input-invariance', ctx, { shift: -1 });
    expect(res.detail?.compensated).toBe(m.layers[1].name);
    expect(res.values[0]).toBeLessThan(1e-4);
    expect(res.values[1]).toBeLessThan(1e-4);
    // Without the compensation the same shift changes the map: the check above can fail.
    const shifted = tf.add(x, -1) as tf.Tensor4D;
    const raw = await method.explain({ model, input: shifted, target: targets });
    shifted.dispose();
    let d = 0;
    let s2 = 0;
    e.maps[0].forEach((v, p) => {
      d += (v - raw.maps[0][p]) ** 2;
      s2 += v * v;
    });
    expect(Math.sqrt(d / s2)).toBeGreaterThan(0.05);
  });

  it('sufficiency: inputs with close maps should share a prediction', async () => {
    // Class 0 for positive inputs, class 1 for negative ones.
    const model = keep(linear(Array.from({ length: n }, () => [1, -1])));
    const input = tf.tensor4d(
      [1, 1, 1, -1].flatMap((s) => new Array(n).fill(s)),
      [4, H, W, 1],
    );
    try {
      const plus = new Float32Array(n).fill(1);
      const minus = new Float32Array(n).fill(-1);
      // Cosine distance: a map three times as strong is the same explanation.
      const ctx: MetricContext = {
        model,
        input,
        targets: [0, 0, 0, 1],
        maps: [plus, plus.map((v) => 3 * v), minus, minus],
      };
      expect((await compute('sufficiency', ctx)).values).toEqual([1, 1, 0.5, 0.5]);
    } finally {
      input.dispose();
    }
  });

  it('needs a model and says so in one line', async () => {
    await expect(
      getMetric('deletion').compute({
        input: ones,
        targets: [0, 0],
        maps: [new Float32Array(n), new Float32Array(n)],
      }),
    ).rejects.toThrow('deletion needs the model');
  });
});
