/**
 * The ONNX converter on small graphs built in code: a conv net (conv + batch norm, ReLU, depthwise
 * conv, HardSwish, max pool, flatten, Gemm) whose outputs and input gradients match the same net
 * built directly with tfjs layers and central finite differences; it saves and reloads; a
 * ResNet-style graph as PyTorch exports it needs no transposes and gets module-name aliases.
 */
import { describe, expect, it } from 'vitest';
import { initBackend, tf } from '../src/engine/backend.ts';
import { convertOnnx } from '../src/onnx/convert/index.ts';
import { transposeData } from '../src/onnx/convert/layout.ts';
import type { OnnxGraph, OnnxNode, OnnxTensor } from '../src/onnx/graph.ts';

function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s / 4294967296 - 0.5) * 2 * scale;
  });
}

const T = (
  name: string,
  dims: number[],
  data: Float32Array | number[],
  type: OnnxTensor['type'] = 'float',
): OnnxTensor => ({
  name,
  type,
  dims,
  data: type === 'float' ? Float32Array.from(data) : Float64Array.from(data),
});

const node = (
  opType: string,
  inputs: string[],
  outputs: string[],
  attributes: OnnxNode['attributes'] = {},
  name = `/${outputs[0]}/${opType}`,
): OnnxNode => ({
  name,
  opType,
  domain: '',
  inputs,
  outputs,
  attributes,
});

function graph(nodes: OnnxNode[], inits: OnnxTensor[], input: number[], output: string): OnnxGraph {
  return {
    name: 'test',
    nodes,
    initializers: new Map(inits.map((t) => [t.name, t])),
    inputs: [{ name: 'input', type: 'float', shape: ['batch', ...input.slice(1)] }],
    outputs: [{ name: output, type: 'float', shape: [] }],
    valueInfo: [],
    opset: 17,
    producer: 'test',
    metadata: {},
  };
}

// conv 3→4 (3×3, pad 1) + BN → ReLU → depthwise 3×3 stride 2 pad 1 → HardSwish → max pool 2 → flatten → Gemm 16→5
const W1 = T('w1', [4, 3, 3, 3], rand(108, 1, 0.5));
const B1 = T('b1', [4], rand(4, 2, 0.1));
const BN = [
  T(
    'g',
    [4],
    rand(4, 3, 0.3).map((v) => 1 + v),
  ),
  T('be', [4], rand(4, 4, 0.2)),
  T('m', [4], rand(4, 5, 0.2)),
  T(
    'v',
    [4],
    rand(4, 6, 0.3).map((v) => 1 + v),
  ),
];
const W2 = T('w2', [4, 1, 3, 3], rand(36, 7, 0.5));
const WG = T('wg', [5, 16], rand(80, 8, 0.4));
const BG = T('bg', [5], rand(5, 9, 0.1));
const smallNet = graph(
  [
    node('Conv', ['input', 'w1', 'b1'], ['c1'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }),
    node('BatchNormalization', ['c1', 'g', 'be', 'm', 'v'], ['bn'], { epsilon: 1e-5 }),
    node('Relu', ['bn'], ['r1']),
    node('Conv', ['r1', 'w2'], ['c2'], { group: 4, strides: [2, 2], pads: [1, 1, 1, 1] }),
    node('HardSwish', ['c2'], ['h']),
    node('MaxPool', ['h'], ['p'], { kernel_shape: [2, 2], strides: [2, 2] }),
    node('Flatten', ['p'], ['f'], { axis: 1 }),
    node('Gemm', ['f', 'wg', 'bg'], ['y'], { transB: 1 }),
  ],
  [W1, B1, ...BN, W2, WG, BG],
  [1, 3, 8, 8],
  'y',
);

/** The same net by hand in tfjs layers: NHWC, an explicit transpose back to NCHW before the flatten. */
function directNet(): tf.LayersModel {
  const x = tf.input({ shape: [8, 8, 3] });
  const c1 = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' });
  const bn = tf.layers.batchNormalization({ epsilon: 1e-5 });
  // PyTorch's symmetric pad 1 at stride 2 is not TF's 'same' (which pads 0 before, 1 after).
  const dw = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', useBias: false });
  const dense = tf.layers.dense({ units: 5 });
  let y = c1.apply(x) as tf.SymbolicTensor;
  y = bn.apply(y) as tf.SymbolicTensor;
  y = tf.layers.reLU().apply(y) as tf.SymbolicTensor;
  y = tf.layers.zeroPadding2d({ padding: 1 }).apply(y) as tf.SymbolicTensor;
  y = dw.apply(y) as tf.SymbolicTensor;
  const hs = tf.layers.activation({ activation: 'linear' });
  y = hs.apply(y) as tf.SymbolicTensor;
  y = tf.layers.maxPooling2d({ poolSize: 2 }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.permute({ dims: [3, 1, 2] }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.flatten().apply(y) as tf.SymbolicTensor;
  y = dense.apply(y) as tf.SymbolicTensor;
  const m = tf.model({ inputs: x, outputs: y });
  tf.tidy(() => {
    c1.setWeights([
      tf.tensor(transposeData(W1.data, W1.dims, [2, 3, 1, 0]), [3, 3, 3, 4]),
      tf.tensor(B1.data),
    ]);
    bn.setWeights(BN.map((t) => tf.tensor(t.data)));
    dw.setWeights([tf.tensor(transposeData(W2.data, [4, 1, 3, 3], [2, 3, 0, 1]), [3, 3, 4, 1])]);
    dense.setWeights([tf.tensor(transposeData(WG.data, [5, 16], [1, 0]), [16, 5]), tf.tensor(BG.data)]);
  });
  return m;
}

/** HardSwish has no Keras layer: the direct net applies it as a function between its layers. */
function runDirect(m: tf.LayersModel, x: tf.Tensor): tf.Tensor {
  // Layers 1–5 (conv … depthwise), the function in place of placeholder 6, then the rest.
  let y = x;
  for (const l of m.layers.slice(1, 6)) y = l.apply(y) as tf.Tensor;
  y = tf.mul(y, tf.clipByValue(tf.add(tf.div(y, 6), 0.5), 0, 1));
  for (const l of m.layers.slice(7)) y = l.apply(y) as tf.Tensor;
  return y;
}

const maxAbs = (a: tf.Tensor, b?: tf.Tensor) =>
  tf.tidy(() => tf.max(tf.abs(b ? tf.sub(a, b) : a)).dataSync()[0]);

describe('ONNX converter', () => {
  it('matches a tfjs-layers build of the same net, forward and input gradients, and finite differences', async () => {
    await initBackend('cpu');
    const before = tf.memory().numTensors;
    const conv = convertOnnx(smallNet);
    const direct = directNet();
    // BN folded into the first conv, the depthwise conv a DepthwiseConv2D, the flatten permutes Gemm's weights.
    const kinds = conv.layers.map((l) => l.kind);
    expect(kinds).toEqual([
      'Conv2D',
      'Activation',
      'ZeroPadding2D',
      'DepthwiseConv2D',
      'OnnxOp:unary',
      'MaxPooling2D',
      'Reshape',
      'Dense',
    ]);
    expect(conv.transposes).toEqual([]);
    expect(conv.inputLayout).toBe('NHWC');
    const x = tf.tensor4d(rand(2 * 8 * 8 * 3, 11), [2, 8, 8, 3]);
    const w = tf.tensor2d(rand(10, 12), [2, 5]);
    const fConv = (t: tf.Tensor) => tf.sum(tf.mul(conv.model.apply(t) as tf.Tensor, w));
    const fDirect = (t: tf.Tensor) => tf.sum(tf.mul(runDirect(direct, t), w));
    const yc = conv.model.predict(x) as tf.Tensor;
    const yd = tf.tidy(() => runDirect(direct, x));
    expect(yc.shape).toEqual([2, 5]);
    expect(maxAbs(yc, yd)).toBeLessThan(1e-5);
    const gc = tf.grad(fConv)(x);
    const gd = tf.grad(fDirect)(x);
    const g = gc.dataSync();
    expect(maxAbs(gc, gd)).toBeLessThan(1e-5);
    expect(maxAbs(gc)).toBeGreaterThan(1e-2);
    // Central differences at 12 input positions (float32: eps 1e-2, a few 1e-3 of slack).
    const xd = x.dataSync();
    const eps = 1e-2;
    for (let k = 0; k < 12; k++) {
      const i = (k * 97 + 13) % xd.length;
      const at = (d: number) =>
        tf.tidy(() => {
          const v = Float32Array.from(xd);
          v[i] += d;
          return fConv(tf.tensor4d(v, x.shape as [number, number, number, number])).dataSync()[0];
        });
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      expect(Math.abs(fd - g[i])).toBeLessThan(5e-3 + 0.02 * Math.abs(g[i]));
    }
    tf.dispose([x, w, yc, yd, gc, gd]);
    conv.model.dispose();
    direct.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('saves and reloads through the layers format, custom layers included', async () => {
    await initBackend('cpu');
    const conv = convertOnnx(smallNet);
    let saved: tf.io.ModelArtifacts | undefined;
    await conv.model.save(
      tf.io.withSaveHandler(async (a) => {
        saved = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved as tf.io.ModelArtifacts));
    const x = tf.tensor4d(rand(8 * 8 * 3, 21), [1, 8, 8, 3]);
    const a = conv.model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
    conv.model.dispose();
    loaded.dispose();
  });

  it('converts a ResNet-style graph without transposes and names its modules', async () => {
    await initBackend('cpu');
    const c = 4;
    const wc = (name: string, cin: number, k: number, seed: number) =>
      T(name, [c, cin, k, k], rand(c * cin * k * k, seed, 0.4));
    // PyTorch's flatten as exported before opset 13: Shape → Gather → Unsqueeze → Concat → Reshape.
    const nodes: OnnxNode[] = [
      node('Conv', ['input', 'w0', 'b'], ['x0'], { strides: [2, 2], pads: [3, 3, 3, 3] }, '/conv1/Conv'),
      node('Relu', ['x0'], ['x1'], {}, '/relu/Relu'),
      node(
        'MaxPool',
        ['x1'],
        ['x2'],
        { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
        '/maxpool/MaxPool',
      ),
      node('Conv', ['x2', 'w1', 'b'], ['x3'], { pads: [1, 1, 1, 1] }, '/layer1/layer1.0/conv1/Conv'),
      node('Relu', ['x3'], ['x4'], {}, '/layer1/layer1.0/relu/Relu'),
      node('Conv', ['x4', 'w2', 'b'], ['x5'], { pads: [1, 1, 1, 1] }, '/layer1/layer1.0/conv2/Conv'),
      node('Add', ['x5', 'x2'], ['x6'], {}, '/layer1/layer1.0/Add'),
      node('Relu', ['x6'], ['x7'], {}, '/layer1/layer1.0/relu_1/Relu'),
      node('GlobalAveragePool', ['x7'], ['x8'], {}, '/avgpool/GlobalAveragePool'),
      node('Shape', ['x8'], ['s'], {}, '/Shape'),
      node('Gather', ['s', 'zero'], ['s0'], { axis: 0 }, '/Gather'),
      node('Unsqueeze', ['s0', 'axes0'], ['s1'], {}, '/Unsqueeze'),
      node('Concat', ['s1', 'minus1'], ['shape'], { axis: 0 }, '/Concat'),
      node('Reshape', ['x8', 'shape'], ['x9'], {}, '/Reshape'),
      node('Gemm', ['x9', 'fc', 'fcb'], ['logits'], { transB: 1 }, '/fc/Gemm'),
    ];
    const g = graph(
      nodes,
      [
        wc('w0', 3, 7, 31),
        wc('w1', c, 3, 32),
        wc('w2', c, 3, 33),
        T('b', [c], rand(c, 34, 0.1)),
        T('fc', [3, c], rand(3 * c, 35)),
        T('fcb', [3], rand(3, 36)),
        T('zero', [], [0], 'int64'),
        T('axes0', [1], [0], 'int64'),
        T('minus1', [1], [-1], 'int64'),
      ],
      [1, 3, 32, 32],
      'logits',
    );
    const conv = convertOnnx(g);
    expect(conv.transposes).toEqual([]);
    expect(conv.model.inputs[0].shape).toEqual([null, 32, 32, 3]);
    expect(conv.model.outputs[0].shape).toEqual([null, 3]);
    const name = (n: string) => conv.aliases[n];
    expect(name('layer1')).toBe(name('/layer1/layer1.0/relu_1/Relu'));
    expect(name('layer1.0.relu_1')).toBe(name('layer1'));
    expect(name('layer1.0.conv2')).toBe('layer1_layer1.0_conv2_Conv');
    expect(conv.model.getLayer(name('layer1.0.relu')).getClassName()).toBe('Activation');
    expect(conv.model.getLayer(name('layer1')).outputShape).toEqual([null, 8, 8, c]);
    // A batch of 2 runs though the graph was converted at batch 1 (the folded shape keeps the batch free).
    const y = conv.model.predict(tf.ones([2, 32, 32, 3])) as tf.Tensor;
    expect(y.shape).toEqual([2, 3]);
    y.dispose();
    conv.model.dispose();
  });
});
