import * as tf from '@tensorflow/tfjs';
import type { NodeCtx } from '../context.ts';
import { transposeData } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import { dimsOf } from '../values.ts';
import { NHWC, need2d, samePads, samePadsEqual, spatialPads } from './_spatial.ts';

/** Scale and shift of a BatchNormalization folded into this conv, if the converter fused one. */
function foldedBn(c: NodeCtx): { scale: Float32Array; shift: Float32Array } | undefined {
  const bn = c.cv.bnOfConv.get(c.node.name);
  if (!bn) return undefined;
  const get = (i: number) => (c.cv.value(bn.inputs[i]) as { tensor: { data: Float32Array } }).tensor.data;
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map(get);
  const eps = typeof bn.attributes.epsilon === 'number' ? bn.attributes.epsilon : 1e-5;
  const scale = Float32Array.from(gamma, (g, i) => g / Math.sqrt(variance[i] + eps));
  const shift = Float32Array.from(beta, (b, i) => b - mean[i] * scale[i]);
  return { scale, shift };
}

registerOnnxOp('Conv', (c) => {
  const x = c.input(0);
  const dims = dimsOf(x);
  need2d(c, dims.length);
  if (c.eager) c.fail('convolving a constant is not supported');
  const w = c.constant(1, 'weights');
  const [m, cg, kh, kw] = w.dims;
  const g = c.int('group', 1);
  const s = c.intList('strides') ?? [1, 1];
  const d = c.intList('dilations') ?? [1, 1];
  if (d.some((v) => v > 1) && s.some((v) => v > 1))
    c.fail('dilations and strides both above 1 are not supported by tfjs');
  const inHW = [dims[2], dims[3]];
  const pads = spatialPads(c, inHW, [kh, kw], s, d);
  let wData = Float32Array.from(w.data);
  let bias = c.has(2) ? Float32Array.from(c.constant(2, 'bias').data) : undefined;
  const bn = foldedBn(c);
  if (bn) {
    const per = wData.length / m;
    wData = wData.map((v, i) => v * bn.scale[Math.floor(i / per)]);
    bias = Float32Array.from(bn.shift, (sh, i) => sh + (bias ? bias[i] * bn.scale[i] : 0));
  }
  let t = c.arg(x, NHWC);
  let padding: 'valid' | 'same' = 'valid';
  if (pads.every((p) => p === 0)) padding = 'valid';
  else if (samePadsEqual(pads, samePads(inHW, [kh, kw], s, d))) padding = 'same';
  else {
    t = c.keras(
      tf.layers.zeroPadding2d({
        padding: [
          [pads[0], pads[2]],
          [pads[1], pads[3]],
        ],
        name: c.layerName('pad'),
      }),
      [t],
    );
  }
  const inC = dims[1];
  const common = {
    strides: s,
    padding,
    dilationRate: d as [number, number],
    useBias: !!bias,
    // The file's weights replace them: skip drawing random ones.
    kernelInitializer: 'zeros' as const,
    depthwiseInitializer: 'zeros' as const,
    name: c.layerName(),
  };
  let layer: tf.layers.Layer;
  let kernel: tf.Tensor;
  if (g === 1) {
    layer = tf.layers.conv2d({ ...common, filters: m, kernelSize: [kh, kw] });
    kernel = tf.tensor(transposeData(wData, w.dims, [2, 3, 1, 0]), [kh, kw, cg, m]);
  } else if (g === inC && cg === 1) {
    const mult = m / inC;
    layer = tf.layers.depthwiseConv2d({ ...common, kernelSize: [kh, kw], depthMultiplier: mult });
    kernel = tf.tensor(transposeData(wData, [inC, mult, kh, kw], [2, 3, 0, 1]), [kh, kw, inC, mult]);
  } else {
    const kernelData = transposeData(wData, w.dims, [2, 3, 1, 0]);
    const weights = [
      {
        kind: 'const' as const,
        tensor: { name: 'w', type: 'float' as const, dims: [kh, kw, cg, m], data: kernelData },
      },
    ];
    if (bias) weights.push({ kind: 'const', tensor: { name: 'b', type: 'float', dims: [m], data: bias } });
    const tmp = c.sym(t, NHWC, 'float');
    const ids = [0, 1, 2, 3];
    return c.op(
      'grouped_conv',
      { groups: g, strides: s, dilations: d },
      [{ v: tmp, perm: NHWC }, ...weights.map((v) => ({ v, perm: ids.slice(0, v.tensor.dims.length) }))],
      [{ perm: NHWC, type: 'float' }],
      true,
    );
  }
  const biasT = bias ? [tf.tensor1d(bias)] : [];
  // Applied before its weights are set: building inside apply() names them '<layer>/kernel'.
  const y = c.keras(layer, [t]);
  layer.setWeights([kernel, ...biasT]);
  tf.dispose([kernel, ...biasT]);
  return [c.sym(y, NHWC, 'float')];
});
