import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, LOGITS_LAYER, layerNames, PROBS_LAYER } from '../src/models/build.ts';
import { describeLayers, lastConvLayer, layersOfClass } from '../src/models/inspect.ts';
import { logitsModel, scoreHead } from '../src/models/logits.ts';
import type { ModelSpec } from '../src/models/spec.ts';
import { MODEL_NAMES, ZOO, zooSpec } from '../src/models/zoo.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const models: tf.LayersModel[] = [];
const build = (...args: Parameters<typeof buildModel>) => {
  const m = buildModel(...args);
  models.push(m);
  return m;
};
afterAll(() => {
  for (const m of models) m.dispose();
});

describe('pw11', () => {
  it('is the Keras MNIST CNN: names, shapes, 1,199,882 parameters', () => {
    const m = build('pw11', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    expect(m.countParams()).toBe(1_199_882);
    expect(describeLayers(m).map((l) => [l.name, l.className, l.outputShape.join('x'), l.params])).toEqual([
      ['conv1', 'Conv2D', '26x26x32', 320],
      ['conv2', 'Conv2D', '24x24x64', 18_496],
      ['pool1', 'MaxPooling2D', '12x12x64', 0],
      ['dropout1', 'Dropout', '12x12x64', 0],
      ['flatten', 'Flatten', '9216', 0],
      ['dense1', 'Dense', '128', 1_179_776],
      ['dropout2', 'Dropout', '128', 0],
      ['logits', 'Dense', '10', 1290],
      ['probs', 'Activation', '10', 0],
    ]);
    expect(m.getLayer(LOGITS_LAYER).getConfig().activation).toBe('linear');
    expect(m.getLayer(PROBS_LAYER).getConfig().activation).toBe('softmax');
    expect(m.inputs[0].shape).toEqual([null, 28, 28, 1]);
    expect(m.outputs[0].shape).toEqual([null, 10]);
    expect(lastConvLayer(m)).toBe('conv2');
    expect(layersOfClass(m, 'Dropout')).toEqual(['dropout1', 'dropout2']);
  });

  it('takes any input size and channel count (32×32×3)', () => {
    const m = build('pw11', { inputShape: [32, 32, 3], numClasses: 10, seed: 1 });
    // conv1 3·9·32+32, conv2 18,496, dense1 (14·14·64)·128+128, logits 1290.
    expect(m.countParams()).toBe(896 + 18_496 + (14 * 14 * 64 * 128 + 128) + 1290);
    const p = tf.tidy(() => (m.predict(tf.ones([2, 32, 32, 3])) as tf.Tensor).arraySync() as number[][]);
    expect(p).toHaveLength(2);
    for (const row of p) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });
});

describe('zoo', () => {
  it.each(MODEL_NAMES)('%s builds for 28×28×1, 32×32×3 and 16×16×1, and predicts', (name) => {
    for (const [shape, k] of [
      [[28, 28, 1], 10],
      [[32, 32, 3], 7],
      [[16, 16, 1], 2],
    ] as const) {
      const m = build(name, { inputShape: [...shape], numClasses: k, seed: 3 });
      const out = tf.tidy(() => (m.predict(tf.zeros([3, ...shape])) as tf.Tensor).shape);
      expect(out).toEqual([3, k]);
      expect(m.layers.at(-2)!.name).toBe('logits');
      expect(m.layers.at(-1)!.name).toBe('probs');
    }
  });

  it('names layers readably and stably', () => {
    expect(layerNames(zooSpec('cnn2'))).toEqual([
      'conv1',
      'bn1',
      'act1',
      'pool1',
      'dropout1',
      'conv2',
      'bn2',
      'act2',
      'pool2',
      'dropout2',
      'flatten',
      'dense1',
      'bn3',
      'act3',
      'dropout3',
    ]);
    expect(layerNames(zooSpec('deconv-net'))).toEqual([
      'conv1',
      'conv2',
      'pool1',
      'flatten',
      'dense1',
      'dense2',
    ]);
  });

  it('rejects an unknown model, listing the known ones', () => {
    expect(() => buildModel('resnet', { inputShape: [28, 28, 1], numClasses: 10 })).toThrow(
      "unknown model 'resnet' (known models: pw11, cnn1, cnn2, deconv-net)",
    );
  });

  it('hands out copies of zoo specs', () => {
    const s = zooSpec('pw11');
    s.layers.pop();
    expect(ZOO.pw11.layers).toHaveLength(7);
  });
});

describe('seeded initialization', () => {
  const weightsOf = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

  it('gives identical weights for the same seed and different ones otherwise', () => {
    const opts = { inputShape: [16, 16, 1] as [number, number, number], numClasses: 10 };
    const a = weightsOf(build('deconv-net', { ...opts, seed: 7 }));
    const b = weightsOf(build('deconv-net', { ...opts, seed: 7 }));
    const c = weightsOf(build('deconv-net', { ...opts, seed: 8 }));
    const d = weightsOf(build('deconv-net', opts));
    expect(b).toEqual(a);
    expect(c[0]).not.toEqual(a[0]);
    expect(d[0]).not.toEqual(a[0]);
  });

  it('seeds each layer differently (equal shapes do not get equal kernels)', () => {
    const spec: ModelSpec = {
      name: 'twins',
      layers: [{ type: 'flatten' }, { type: 'dense', units: 4 }, { type: 'dense', units: 4 }],
    };
    const m = build(spec, { inputShape: [2, 2, 1], numClasses: 4, seed: 1 });
    const [k1, , k2] = m.getWeights().map((w) => Array.from(w.dataSync()));
    expect(k1).toHaveLength(16);
    expect(k2).not.toEqual(k1);
  });
});

describe('specs', () => {
  it('builds a JSON round-tripped spec with custom names, gap and avgpool', () => {
    const spec = JSON.parse(
      JSON.stringify({
        name: 'custom',
        layers: [
          {
            type: 'conv2d',
            filters: 3,
            kernel: [3, 5],
            strides: 1,
            dilation: 2,
            padding: 'same',
            activation: 'elu',
          },
          { type: 'avgpool', pool: 2, strides: 1 },
          { type: 'conv2d', filters: 5, kernel: 3, strides: 2, name: 'features' },
          { type: 'gap' },
        ],
      }),
    );
    const m = build(spec, { inputShape: [12, 10, 2], numClasses: 3, seed: 1 });
    expect(describeLayers(m).map((l) => `${l.name}:${l.outputShape.join('x')}`)).toEqual([
      'conv1:12x10x3',
      'avgpool1:11x9x3',
      'features:5x4x5',
      'gap:5',
      'logits:3',
      'probs:3',
    ]);
    expect(lastConvLayer(m)).toBe('features');
  });

  it('flattens before the head when the body ends on an image', () => {
    const m = build(
      { name: 'convs', layers: [{ type: 'conv2d', filters: 2, kernel: 3 }] },
      {
        inputShape: [5, 5, 1],
        numClasses: 2,
      },
    );
    expect(m.layers.map((l) => l.name)).toEqual(['input', 'conv1', 'flatten', 'logits', 'probs']);
  });

  it.each([
    [{ layers: [] }, /needs a non-empty name/],
    [{ name: 'x', layers: [{ type: 'lstm' }] }, /unknown type 'lstm'/],
    [
      { name: 'x', layers: [{ type: 'conv2d', filters: -1, kernel: 3 }] },
      /filters must be a positive integer/,
    ],
    [{ name: 'x', layers: [{ type: 'conv2d', filters: 2 }] }, /kernel must be/],
    [
      { name: 'x', layers: [{ type: 'conv2d', filters: 2, kernel: 3, activation: 'nope' }] },
      /activation must be/,
    ],
    [{ name: 'x', layers: [{ type: 'conv2d', filters: 2, kernel: 3, dilation: 2, strides: 2 }] }, /dilation/],
    [{ name: 'x', layers: [{ type: 'dropout', rate: 1 }] }, /rate must be a number in \[0, 1\)/],
    [{ name: 'x', layers: [{ type: 'flatten', name: 'logits' }] }, /reserved/],
    [
      {
        name: 'x',
        layers: [
          { type: 'flatten', name: 'a' },
          { type: 'dense', units: 2, name: 'a' },
        ],
      },
      /duplicate name 'a'/,
    ],
    [{ name: 'x', layers: [{ type: 'dense', units: 4 }] }, /needs a flatten or gap layer before it/],
    [{ name: 'x', layers: [{ type: 'flatten' }, { type: 'maxpool' }] }, /needs an image input/],
  ])('rejects bad spec %#', (spec, message) => {
    expect(() => buildModel(spec as ModelSpec, { inputShape: [8, 8, 1], numClasses: 2 })).toThrow(message);
  });

  it('says when the input is too small for the model, freeing the weights made so far', () => {
    const n = tf.memory().numTensors;
    expect(() => buildModel('pw11', { inputShape: [4, 4, 1], numClasses: 10 })).toThrow(
      "model 'pw11': input 4×4×1 is too small; layer conv2 would output [0,0,64]",
    );
    expect(tf.memory().numTensors).toBe(n);
  });

  it('rejects a bad input shape or class count', () => {
    expect(() => buildModel('pw11', { inputShape: [28, 28] as never, numClasses: 10 })).toThrow(/inputShape/);
    expect(() => buildModel('pw11', { inputShape: [28, 28, 1], numClasses: 1 })).toThrow(/numClasses/);
  });
});

describe('logits head', () => {
  it('cuts at logits: softmax(logits) is the model output', () => {
    const m = build('cnn1', { inputShape: [8, 8, 1], numClasses: 5, seed: 2 });
    const lm = logitsModel(m);
    expect(logitsModel(m)).toBe(lm); // cached
    const x = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 5);
    const [probs, viaLogits] = tf.tidy(() => [
      (m.predict(x) as tf.Tensor).arraySync() as number[][],
      tf.softmax(lm.predict(x) as tf.Tensor).arraySync() as number[][],
    ]);
    x.dispose();
    for (const [i, row] of probs.entries()) {
      for (const [j, p] of row.entries()) expect(viaLogits[i][j]).toBeCloseTo(p, 6);
    }
  });

  it('reads logits before a final softmax: a fused Dense softmax and a softmax Activation + Reshape', () => {
    const x = tf.randomNormal([5, 2, 2, 1], 0, 1, 'float32', 3);
    const dense = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [2, 2, 1] }),
        tf.layers.dense({ units: 3, activation: 'softmax', name: 'predictions' }),
      ],
    });
    // MobileNet's ending: logits → softmax Activation → Reshape.
    const input = tf.input({ shape: [2, 2, 1] });
    const z = tf.layers.conv2d({ filters: 3, kernelSize: 2, name: 'conv_preds' }).apply(input);
    const s = tf.layers.activation({ activation: 'softmax', name: 'act_softmax' }).apply(z);
    const act = tf.model({
      inputs: input,
      outputs: tf.layers.reshape({ targetShape: [3] }).apply(s) as tf.SymbolicTensor,
    });
    models.push(dense, act);
    for (const [m, from] of [
      [dense, 'predictions'],
      [act, 'conv_preds'],
    ] as const) {
      const head = scoreHead(m);
      expect(head.kind).toBe('logits');
      expect(head.from).toBe(from);
      const [p, viaLogits, logits] = tf.tidy(() => {
        const l = head.net.predict(x) as tf.Tensor;
        return [(m.predict(x) as tf.Tensor).arraySync(), tf.softmax(l).arraySync(), l.arraySync()];
      }) as number[][][];
      // Logits, not probabilities: rows do not sum to one, and their softmax is the model's output.
      expect(Math.abs(logits[0].reduce((a, b) => a + b) - 1)).toBeGreaterThan(1e-3);
      for (const [i, row] of p.entries())
        for (const [j, v] of row.entries()) expect(viaLogits[i][j]).toBeCloseTo(v, 6);
    }
    // The fused head shares the Dense layer's variables (training through it trains the model).
    expect(scoreHead(dense).net.trainableWeights.map((w) => w.name)).toEqual(
      dense.trainableWeights.map((w) => w.name),
    );
    x.dispose();
  });

  it('falls back to probabilities for a model without logits or a final softmax', () => {
    const m = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [2, 2, 1] }),
        tf.layers.dense({ units: 3, activation: 'sigmoid' }),
      ],
    });
    models.push(m);
    expect(scoreHead(m).kind).toBe('probs');
    expect(() => logitsModel(m)).toThrow(/no 'logits' layer/);
  });

  it('survives save and load (layer names, logits, predictions)', async () => {
    const m = build('cnn2', { inputShape: [8, 8, 1], numClasses: 3, seed: 4 });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await m.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
    models.push(loaded);
    expect(loaded.layers.map((l) => l.name)).toEqual(m.layers.map((l) => l.name));
    expect(scoreHead(loaded).kind).toBe('logits');
    const x = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 9);
    const [a, b] = tf.tidy(() => [
      Array.from((m.predict(x) as tf.Tensor).dataSync()),
      Array.from((loaded.predict(x) as tf.Tensor).dataSync()),
    ]);
    x.dispose();
    for (const [i, v] of b.entries()) expect(v).toBeCloseTo(a[i], 6);
  });
});
