import * as tf from '@tensorflow/tfjs';
import type { NodeCtx } from '../context.ts';
import { dimsOf, type Value } from '../values.ts';
import { NHWC, need2d, samePads, samePadsEqual, spatialPads } from './_spatial.ts';

/** MaxPool / AveragePool: Keras pooling layers when the padding is 'valid' or TF's 'same', else the 'pool' function. */
export function pool(c: NodeCtx, type: 'max' | 'avg'): Value[] {
  const x = c.input(0);
  const dims = dimsOf(x);
  need2d(c, dims.length);
  if ((x.kind === 'const' ? x.tensor.type : x.type) !== 'float')
    c.fail('integer data is not supported (tfjs pools float32)');
  if (c.node.outputs.filter(Boolean).length > 1) c.fail('the indices output is not supported');
  const k = c.intList('kernel_shape') ?? c.fail('has no kernel_shape');
  const s = c.intList('strides') ?? [1, 1];
  const d = c.intList('dilations') ?? [1, 1];
  if (d.some((v) => v !== 1)) c.fail('dilations are not supported');
  const inHW = [dims[2], dims[3]];
  const pads = spatialPads(c, inHW, k, s, d);
  const ceil = c.int('ceil_mode', 0) === 1;
  const includePad = c.int('count_include_pad', 0) === 1;
  const out = inHW.map((n, i) => {
    const span = n + pads[i] + pads[i + 2] - k[i];
    let o = (ceil ? Math.ceil(span / s[i]) : Math.floor(span / s[i])) + 1;
    // A last window that would start in the end padding is dropped (ONNX and PyTorch).
    if (ceil && (o - 1) * s[i] >= n + pads[i]) o--;
    return o;
  });
  const extra = out.map((o, i) => Math.max(0, (o - 1) * s[i] + k[i] - (inHW[i] + pads[i] + pads[i + 2])));
  const t = c.arg(x, NHWC);
  const noExtra = extra.every((e) => e === 0);
  const keras = type === 'max' ? tf.layers.maxPooling2d : tf.layers.averagePooling2d;
  const same = samePadsEqual(pads, samePads(inHW, k, s, d));
  if (noExtra && (pads.every((p) => p === 0) || (same && (type === 'max' || !includePad)))) {
    const padding = pads.every((p) => p === 0) ? 'valid' : 'same';
    const layer = keras({
      poolSize: k as [number, number],
      strides: s as [number, number],
      padding,
      name: c.layerName(),
    });
    return [c.sym(c.keras(layer, [t]), NHWC, 'float')];
  }
  if (type === 'max' && !c.eager && nonNegative(t)) {
    // After a ReLU, zeros pad a max pool as well as -∞ do (every window holds a real value ≥ 0):
    // ZeroPadding2D + MaxPooling2D keep it a Keras layer (ResNet's stem pool, for DeconvNet's switches).
    const padding: [[number, number], [number, number]] = [
      [pads[0], pads[2] + extra[0]],
      [pads[1], pads[3] + extra[1]],
    ];
    const padded = c.keras(tf.layers.zeroPadding2d({ padding, name: c.layerName('pad') }), [t]);
    const layer = tf.layers.maxPooling2d({
      poolSize: k as [number, number],
      strides: s as [number, number],
      padding: 'valid',
      name: c.layerName(),
    });
    return [c.sym(c.keras(layer, [padded]), NHWC, 'float')];
  }
  const counts: number[] = [];
  const range = (o: number, i: number) => {
    const start = o * s[i] - pads[i];
    const lo = includePad ? -pads[i] : 0;
    const hi = includePad ? inHW[i] + pads[i + 2] : inHW[i];
    return Math.max(0, Math.min(start + k[i], hi) - Math.max(start, lo));
  };
  for (let oh = 0; oh < out[0]; oh++)
    for (let ow = 0; ow < out[1]; ow++) counts.push(range(oh, 0) * range(ow, 1));
  const padsAll = [pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1]];
  return c.op(
    'pool',
    { type, kernel: k, strides: s, pads: padsAll, counts },
    [{ v: x, perm: NHWC }],
    [{ perm: NHWC, type: 'float' }],
  );
}

/** Whether a tensor comes straight out of a layer whose outputs are never negative. */
function nonNegative(t: tf.SymbolicTensor | tf.Tensor): boolean {
  if (!(t instanceof tf.SymbolicTensor)) return false;
  const layer = t.sourceLayer as tf.layers.Layer & { activation?: { getClassName(): string } };
  const cls = layer.getClassName();
  if (cls === 'ReLU') return true;
  if (cls === 'Activation')
    return ['relu', 'relu6', 'sigmoid', 'hardSigmoid', 'softmax'].includes(
      layer.activation?.getClassName() ?? '',
    );
  return false;
}
