// Models holding models as layers (core/models/flatten-nested.ts, called by openModel): the flat model
// computes the same scores, its layers are the inner layers (so Grad-CAM's default layer, --layer with
// an inner name, guided backprop's relu patches and the inference twin's folding all reach them), and
// it survives saving and reopening.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { getExplainMethod } from '@convlens/core/methods/explain/registry';
import { FLATTENED_KEY, flattenNested } from '@convlens/core/models/flatten-nested';
import { findChains } from '@convlens/core/models/inference-twin';
import { findLayer } from '@convlens/core/models/layer-aliases';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, saveModel } from '../src/io/model-io.ts';
import { openModel } from '../src/open/open-model.ts';

const S = 12;
const init = (seed: number) => tf.initializers.glorotUniform({ seed });
const sym = (l: tf.layers.Layer, x: tf.SymbolicTensor) => l.apply(x) as tf.SymbolicTensor;

/** Batch-norm statistics far from the identity, as after training. */
function trainedBn(model: tf.LayersModel, seed: number) {
  for (const l of model.layers) {
    if (l.getClassName() !== 'BatchNormalization') continue;
    const w = l
      .getWeights()
      .map((w, i) => tf.randomUniform(w.shape, i === 2 ? -0.5 : 0.3, 1.4, 'float32', seed + i));
    l.setWeights(w);
    tf.dispose(w);
  }
}

/** A functional conv → batch norm → relu sub-model on [S, S, c] (layer names `${p}conv`, `${p}bn`, `${p}relu`). */
function convBnRelu(name: string, c: number, p: string, seed: number): tf.LayersModel {
  const input = tf.input({ shape: [S, S, c] });
  let h = sym(
    tf.layers.conv2d({
      filters: 6,
      kernelSize: 3,
      padding: 'same',
      useBias: false,
      name: `${p}conv`,
      kernelInitializer: init(seed),
    }),
    input,
  );
  h = sym(tf.layers.batchNormalization({ name: `${p}bn` }), h);
  h = sym(tf.layers.reLU({ name: `${p}relu` }), h);
  const m = tf.model({ inputs: input, outputs: h, name });
  trainedBn(m, seed * 10);
  return m;
}

const head = (seed: number) => [
  tf.layers.globalAveragePooling2d({ name: 'gap' }),
  tf.layers.dense({ units: 4, name: 'logits', kernelInitializer: init(seed) }),
];

/** The transfer-learning shape: Sequential([sub-model, GAP, dense]). */
function sequentialNested(): tf.LayersModel {
  const m = tf.sequential({ name: 'transfer', layers: [convBnRelu('backbone', 3, 'in_', 1), ...head(2)] });
  m.setUserDefinedMetadata({ preprocess: { preset: 'scale-1-1' } });
  return m;
}

/** Functional: conv 'pre' → sub-model (in the middle) → conv 'post' → GAP → dense. */
function functionalNested(): tf.LayersModel {
  const input = tf.input({ shape: [S, S, 3], name: 'image' });
  let h = sym(
    tf.layers.conv2d({
      filters: 5,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'pre',
      kernelInitializer: init(3),
    }),
    input,
  );
  h = sym(convBnRelu('middle', 5, 'mid_', 4), h);
  h = sym(
    tf.layers.conv2d({
      filters: 7,
      kernelSize: 1,
      activation: 'relu',
      name: 'post',
      kernelInitializer: init(5),
    }),
    h,
  );
  for (const l of head(6)) h = sym(l, h);
  return tf.model({ inputs: input, outputs: h, name: 'fn' });
}

/** Sequential with the sub-model after a layer of its own: tfjs calls it as one layer there. */
function sequentialLater(): tf.LayersModel {
  const first = tf.layers.conv2d({
    inputShape: [S, S, 3],
    filters: 4,
    kernelSize: 3,
    padding: 'same',
    name: 'stem',
    kernelInitializer: init(12),
  });
  return tf.sequential({ name: 'later', layers: [first, convBnRelu('body', 4, 'body_', 13), ...head(14)] });
}

/** Two deep, with a name clash: outer(functional) → Sequential[sub-model, conv 'mixer'] → conv 'conv' → head. */
function twoDeep(): tf.LayersModel {
  const inner = convBnRelu('inner', 3, '', 7); // layers 'conv', 'bn', 'relu'
  const mid = tf.sequential({
    name: 'mid',
    layers: [
      inner,
      tf.layers.conv2d({
        filters: 6,
        kernelSize: 1,
        activation: 'relu',
        name: 'mixer',
        kernelInitializer: init(8),
      }),
    ],
  });
  const input = tf.input({ shape: [S, S, 3] });
  let h = sym(mid, input);
  h = sym(
    tf.layers.conv2d({
      filters: 5,
      kernelSize: 3,
      padding: 'same',
      name: 'conv',
      kernelInitializer: init(9),
    }),
    h,
  );
  for (const l of head(10)) h = sym(l, h);
  return tf.model({ inputs: input, outputs: h, name: 'deep' });
}

/** The Sequential case built flat by hand, with the nested model's weights. */
function handFlat(nested: tf.LayersModel): tf.LayersModel {
  const sub = nested.layers[0] as tf.LayersModel;
  const input = tf.input({ shape: [S, S, 3] });
  let h: tf.SymbolicTensor = input;
  const src = [...sub.layers.slice(1), ...nested.layers.slice(1)];
  const made = src.map((l) => {
    const cls = tf.serialization.SerializationMap.getMap().classNameMap[l.getClassName()];
    return cls[1](cls[0], { ...l.getConfig(), name: `hand_${l.name}` }) as tf.layers.Layer;
  });
  for (const l of made) h = sym(l, h);
  const m = tf.model({ inputs: input, outputs: h });
  for (const [i, l] of made.entries()) l.setWeights(src[i].getWeights());
  return m;
}

const x = () => tf.randomUniform([2, S, S, 3], -1, 1, 'float32', 11) as tf.Tensor4D;

async function scoresOf(m: tf.LayersModel, input: tf.Tensor): Promise<Float32Array> {
  const y = m.predict(input) as tf.Tensor;
  const d = (await y.data()) as Float32Array;
  y.dispose();
  return d;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
};
const maxAbs = (a: ArrayLike<number>) => maxDiff(a, new Float32Array(a.length));

async function explain(model: tf.LayersModel, input: tf.Tensor4D, method: string, layer?: string) {
  return getExplainMethod(method).explain({ model, input, target: [1, 2], ...(layer ? { layer } : {}) });
}

describe('flattenNested', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('returns a model without nested models unchanged', () => {
    const m = handFlat(sequentialNested());
    expect(flattenNested(m)).toBe(m);
  });

  for (const [what, build, layers, lastSpatial, chains] of [
    ['Sequential([sub-model, GAP, dense])', sequentialNested, 6, 'in_relu', 1],
    ['a functional model calling a sub-model in the middle', functionalNested, 8, 'post', 3],
    ['Sequential([conv, sub-model, GAP, dense])', sequentialLater, 7, 'body_relu', 2],
    ['a two-deep nesting with clashing names', twoDeep, 8, 'conv', 3],
  ] as const) {
    it(`flattens ${what}: same scores, inner layers, no leaked tensors`, async () => {
      const input = x();
      const before = tf.memory().numTensors;
      const nested = build();
      const want = await scoresOf(nested, input);
      const flat = flattenNested(nested);
      expect(flat).not.toBe(nested);
      expect(flat.name).toBe(nested.name);
      expect(flat.layers.length).toBe(layers);
      expect(flat.layers.some((l) => 'layers' in l)).toBe(false);
      expect(maxDiff(await scoresOf(flat, input), want)).toBeLessThan(1e-6);
      // Each re-created layer has one inbound node: the inference twin folds the inner chains too.
      expect(findChains(flat).size).toBe(chains);
      const cam = await explain(flat, input, 'gradcam');
      expect(cam.layer).toBe(lastSpatial);
      expect(maxAbs(cam.maps[0])).toBeGreaterThan(1e-4);
      flat.dispose();
      input.dispose();
      expect(tf.memory().numTensors).toBe(before - 1);
    });
  }

  it('keeps outer names, renames clashing inner ones deterministically and records them as aliases', () => {
    const flat = flattenNested(twoDeep());
    const names = flat.layers.map((l) => l.name);
    expect(names.slice(1)).toEqual(['inner_conv', 'bn', 'relu', 'mixer', 'conv', 'gap', 'logits']);
    // The outer 'conv' keeps its name; the inner ones become <sub-model>_conv.
    expect(names.filter((n) => n === 'conv')).toHaveLength(1);
    expect(names).toContain('inner_conv');
    const meta = flat.getUserDefinedMetadata() as Record<string, Record<string, string>>;
    expect(meta[FLATTENED_KEY]).toEqual({ inner_conv: 'mid/inner/conv' });
    expect(findLayer(flat, 'mid/inner/conv')?.name).toBe('inner_conv');
    // A sub-model's name names the layer producing its output.
    expect(findLayer(flat, 'mid')?.name).toBe('mixer');
    expect(findLayer(flat, 'inner')?.name).toBe('relu');
    flat.dispose();
  });

  it('Grad-CAM: default layer is the last inner spatial layer, equal to Grad-CAM on a hand-built flat model', async () => {
    const input = x();
    const nested = sequentialNested();
    const hand = handFlat(nested);
    const flat = flattenNested(nested);
    const ours = await explain(flat, input, 'gradcam');
    const ref = await explain(hand, input, 'gradcam', 'hand_in_relu');
    expect(ours.layer).toBe('in_relu');
    for (let i = 0; i < 2; i++) {
      expect(maxAbs(ref.maps[i])).toBeGreaterThan(1e-3);
      expect(maxDiff(ours.maps[i], ref.maps[i])).toBeLessThan(1e-5 * maxAbs(ref.maps[i]) + 1e-6);
    }
    // An inner layer by name, and the sub-model's own name (an alias of its output layer).
    const byInner = await explain(flat, input, 'gradcam', 'in_conv');
    const refConv = await explain(hand, input, 'gradcam', 'hand_in_conv');
    expect(maxDiff(byInner.maps[0], refConv.maps[0])).toBeLessThan(1e-5 * maxAbs(refConv.maps[0]) + 1e-6);
    const byModel = await explain(flat, input, 'gradcam', 'backbone');
    expect(maxDiff(byModel.maps[0], ours.maps[0])).toBe(0);
    // The metadata travels.
    expect((flat.getUserDefinedMetadata() as { preprocess: unknown }).preprocess).toEqual({
      preset: 'scale-1-1',
    });
    for (const m of [flat, hand]) m.dispose();
    input.dispose();
  });

  it('guided backprop patches the inner relus (differs from saliency, as on the hand-built model)', async () => {
    const input = x();
    const nested = functionalNested();
    const flat = flattenNested(nested);
    const guided = await explain(flat, input, 'guided-backprop');
    const plain = await explain(flat, input, 'saliency');
    expect(maxDiff(guided.maps[0], plain.maps[0])).toBeGreaterThan(0.05 * maxAbs(plain.maps[0]));
    flat.dispose();
    input.dispose();
  });
});

describe('openModel on a nested model saved in tfjs layers format', () => {
  let dir: string;
  beforeAll(async () => {
    await initBackend('wasm');
    dir = await mkdtemp(join(tmpdir(), 'convlens-nested-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('opens flat, keeps the stored preprocessing, and saves and reopens with the same scores', async () => {
    const input = x();
    const nested = sequentialNested();
    const want = await scoresOf(nested, input);
    await saveModel(nested, join(dir, 'nested'), nested.getUserDefinedMetadata() as Record<string, unknown>);
    nested.dispose();
    const opened = await openModel(join(dir, 'nested'));
    expect(opened.model.layers.map((l) => l.name)).toEqual(
      expect.arrayContaining(['in_conv', 'in_bn', 'in_relu', 'gap', 'logits']),
    );
    expect(opened.model.layers).toHaveLength(6);
    expect(opened.preprocess.preset).toBe('scale-1-1');
    expect(opened.scores.kind).toBe('logits');
    expect(maxDiff(await scoresOf(opened.model, input), want)).toBeLessThan(1e-6);
    await saveModel(
      opened.model,
      join(dir, 'flat'),
      opened.model.getUserDefinedMetadata() as Record<string, unknown>,
    );
    opened.dispose();
    const again = await loadModel(join(dir, 'flat'));
    expect(maxDiff(await scoresOf(again.model, input), want)).toBeLessThan(1e-6);
    expect(again.model.layers.map((l) => l.name)).toContain('in_relu');
    again.model.dispose();
    input.dispose();
  });
});
