/**
 * Lucid's vocabulary in activation maximization, on a small seeded RGB CNN (untrained: its channels are
 * still fixed functions of the image): objective algebra (parsing; the gradient of a sum is the sum of the
 * gradients, of a product the product rule), diversity (copies of one target whose layer activations are
 * less alike than without the penalty, each still well above a random image) and the CPPN
 * parameterization (its images excite their target).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../src/engine/backend.ts';
import { compileObjectives, type Objective } from '../src/methods/actmax/objective.ts';
import { parseObjective } from '../src/methods/actmax/objective-parse.ts';
import { maximize, meanPairwiseCosine } from '../src/methods/actmax/optimize.ts';

let model: tf.LayersModel;

beforeAll(async () => {
  await initBackend('wasm');
  const input = tf.input({ shape: [16, 16, 3] });
  const conv = (filters: number, name: string, seed: number, strides = 1) =>
    tf.layers.conv2d({
      filters,
      kernelSize: 3,
      strides,
      padding: 'same',
      activation: 'relu',
      name,
      kernelInitializer: tf.initializers.heNormal({ seed }),
      biasInitializer: tf.initializers.constant({ value: 0.01 }),
    });
  const c1 = conv(8, 'c1', 1).apply(input) as tf.SymbolicTensor;
  const c2 = conv(12, 'c2', 2, 2).apply(c1) as tf.SymbolicTensor;
  const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(c2) as tf.SymbolicTensor;
  const dense = tf.layers
    .dense({ units: 6, name: 'dense', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) })
    .apply(gap) as tf.SymbolicTensor;
  const logits = tf.layers
    .dense({ units: 4, name: 'logits', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) })
    .apply(dense) as tf.SymbolicTensor;
  const probs = tf.layers
    .activation({ activation: 'softmax', name: 'probs' })
    .apply(logits) as tf.SymbolicTensor;
  model = tf.model({ inputs: input, outputs: probs });
});

describe('objective algebra', () => {
  it('parses sums, weights, negation, products and neurons', () => {
    const o = parseObjective('channel:c2:3 + 0.5*class:2 - neuron:dense:4', model);
    expect(o.terms).toEqual([
      { kind: 'filter', layer: 'c2', index: 3 },
      { kind: 'class', index: 2, space: 'logit', weight: 0.5 },
      { kind: 'unit', layer: 'dense', index: 4, weight: -1 },
    ]);
    expect(o.products).toBeUndefined();
    const n = parseObjective('neuron:c2:1', model);
    expect(n.terms[0]).toEqual({ kind: 'filter', layer: 'c2', index: 1, position: [4, 4] });
    const p = parseObjective('2 * (channel:c1:0 - channel:c1:1) * channel:c2:5 + 3', model);
    expect(p.terms).toEqual([]);
    expect(p.products?.map((x) => x.weight).sort()).toEqual([-2, 2]);
    const d = parseObjective('direction:c1:1,-0.5,0,0,0,0,0,2', model);
    expect(d.terms[0]).toMatchObject({ kind: 'direction', vector: [1, -0.5, 0, 0, 0, 0, 0, 2] });
    expect(() => parseObjective('channel:nope:1', model)).toThrow(/no layer 'nope'/);
    expect(() => parseObjective('channel:c1:1 +', model)).toThrow(/ends too early/);
    expect(() => parseObjective('3 - 1', model)).toThrow(/only constants/);
    expect(() => parseObjective('pixel:1', model)).toThrow(/not an objective/);
  });

  it('the gradient of a sum is the sum of the gradients, of a product the product rule', () => {
    const before = tf.memory().numTensors;
    const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const grad = (o: Objective) => {
      const c = compileObjectives(model, [o]);
      const g = tf.tidy(() => tf.grad((v: tf.Tensor) => c.apply(v as tf.Tensor4D).sum())(x));
      const val = tf.tidy(() => c.apply(x).dataSync()[0]);
      c.dispose();
      const data = g.dataSync() as Float32Array;
      g.dispose();
      return { data, val };
    };
    const a = grad(parseObjective('channel:c2:3', model));
    const b = grad(parseObjective('class:1', model));
    const c = grad(parseObjective('neuron:c1:2', model));
    const sum = grad(parseObjective('channel:c2:3 + 0.5*class:1 - neuron:c1:2', model));
    const prod = grad(parseObjective('channel:c2:3 * class:1', model));
    let scale = 0;
    let errSum = 0;
    let errProd = 0;
    for (let i = 0; i < a.data.length; i++) {
      const want = a.data[i] + 0.5 * b.data[i] - c.data[i];
      scale = Math.max(scale, Math.abs(want));
      errSum = Math.max(errSum, Math.abs(sum.data[i] - want));
      errProd = Math.max(errProd, Math.abs(prod.data[i] - (a.val * b.data[i] + b.val * a.data[i])));
    }
    expect(scale).toBeGreaterThan(1e-4);
    expect(errSum).toBeLessThan(1e-5 * Math.max(1, scale));
    expect(errProd).toBeLessThan(1e-4 * Math.max(1, scale));
    expect(sum.val).toBeCloseTo(a.val + 0.5 * b.val - c.val, 4);
    expect(prod.val).toBeCloseTo(a.val * b.val, 4);
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a direction at one position is the weighted sum of those neurons (neuron groups draw it there)', () => {
    const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
    const value = (o: Objective) => {
      const c = compileObjectives(model, [o]);
      const v = tf.tidy(() => c.apply(x).dataSync()[0]);
      c.dispose();
      return v;
    };
    const vector = [0.5, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    const at = value({ terms: [{ kind: 'direction', layer: 'c2', index: 0, vector, position: [3, 5] }] });
    const byNeurons = value({
      terms: [0, 2, 11].map((k) => ({
        kind: 'filter' as const,
        layer: 'c2',
        index: k,
        position: [3, 5] as [number, number],
        weight: vector[k],
      })),
    });
    const mean = value({ terms: [{ kind: 'direction', layer: 'c2', index: 0, vector }] });
    expect(Math.abs(at)).toBeGreaterThan(1e-4);
    expect(at).toBeCloseTo(byNeurons, 5);
    expect(at).not.toBeCloseTo(mean, 5);
    const bad = {
      terms: [
        { kind: 'direction' as const, layer: 'c2', index: 0, vector, position: [8, 0] as [number, number] },
      ],
    };
    expect(() => compileObjectives(model, [bad])).toThrow(/outside layer c2's 8×8 output/);
    x.dispose();
  });
});

/** c2 activations (flattened) of each image, and its channel-k mean. */
function acts(images: Float32Array[], k: number): { flat: Float32Array[]; channel: number[] } {
  const probe = tf.model({ inputs: model.inputs, outputs: model.getLayer('c2').output as tf.SymbolicTensor });
  const y = tf.tidy(
    () =>
      probe.predict(
        tf.tensor4d(Float32Array.from(images.flatMap((i) => Array.from(i))), [images.length, 16, 16, 3]),
      ) as tf.Tensor,
  );
  const data = y.dataSync() as Float32Array;
  y.dispose();
  const size = data.length / images.length;
  const flat = images.map((_, i) => data.slice(i * size, (i + 1) * size));
  const channel = flat.map((f) => {
    let s = 0;
    for (let p = k; p < f.length; p += 12) s += f[p];
    return s / (f.length / 12);
  });
  return { flat, channel };
}

describe('diversity and CPPN', () => {
  const target = () => parseObjective('channel:c2:5', model);
  const random = () => {
    let s = 9;
    return Array.from({ length: 8 }, () =>
      Float32Array.from({ length: 16 * 16 * 3 }, () => {
        s = (s * 1103515245 + 12345) >>> 0;
        return s / 2 ** 32;
      }),
    );
  };

  it('diversity makes copies of one target less alike, each still exciting it', async () => {
    const before = tf.memory().numTensors;
    const copies = Array.from({ length: 4 }, target);
    const opts = { steps: 80, seed: 1, tvWeight: 0, noise: 0.5, jitter: 1, distinctStarts: true };
    const plain = await maximize(model, copies, opts);
    const diverse = await maximize(model, copies, { ...opts, diversity: 1, diversityLayer: 'c1' });
    expect(tf.memory().numTensors).toBe(before);
    const p = acts(plain.images, 5);
    const d = acts(diverse.images, 5);
    const r = acts(random(), 5);
    const cosPlain = meanPairwiseCosine(p.flat);
    const cosDiverse = meanPairwiseCosine(d.flat);
    const randomMax = Math.max(...r.channel);
    expect(cosDiverse).toBeLessThan(cosPlain - 0.01);
    for (const v of d.channel) expect(v).toBeGreaterThan(2 * randomMax);
  }, 60_000);

  it('CPPN images excite their target', async () => {
    const before = tf.memory().numTensors;
    const res = await maximize(model, [target()], {
      steps: 80,
      seed: 2,
      parameterization: 'cppn',
      learningRate: 0.01,
      tvWeight: 0,
      cppnHidden: 12,
      cppnLayers: 4,
    });
    expect(tf.memory().numTensors).toBe(before);
    const start = res.curves[0][0];
    const r = acts(random(), 5);
    const got = acts(res.images, 5).channel[0];
    expect(got).toBeGreaterThan(2 * Math.max(...r.channel));
    expect(res.objective[0]).toBeGreaterThan(start + 0.5);
    await expect(
      maximize(model, [target()], { parameterization: 'cppn', start: new Float32Array(768) }),
    ).rejects.toThrow(/cannot start/);
  }, 60_000);
});
