/**
 * Empirical receptive field: the bounding box of the input pixels whose gradient on one output unit
 * is non-zero, unioned over several random inputs (a max pool passes gradient to one position per
 * window, so a single input can under-report). The check on the analytic recurrence.
 *
 * tfjs has no Conv2D gradient for dilation > 1, so a dilated Conv2D is applied as the identical
 * undilated conv with zeros inserted between its kernel taps.
 */
import * as tf from '@tensorflow/tfjs';
import type { Box } from './receptive-field.ts';

export interface EmpiricalOptions {
  /** Random inputs to union over (default 8). */
  samples?: number;
  seed?: number;
}

/** A [kh, kw, cin, cout] kernel with (d − 1) zeros between taps: same output as dilation d. */
export function dilateKernel(kernel: tf.Tensor4D, dh: number, dw: number): tf.Tensor4D {
  const [kh, kw, cin, cout] = kernel.shape;
  const data = kernel.dataSync();
  const eh = dh * (kh - 1) + 1;
  const ew = dw * (kw - 1) + 1;
  const out = new Float32Array(eh * ew * cin * cout);
  const inner = cin * cout;
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      out.set(data.subarray((y * kw + x) * inner, (y * kw + x + 1) * inner), (y * dh * ew + x * dw) * inner);
  return tf.tensor4d(out, [eh, ew, cin, cout]);
}

/** The chain of layers from the input to `target` (first inbound layer of each). */
function chainTo(model: tf.LayersModel, target: string): tf.layers.Layer[] {
  const chain: tf.layers.Layer[] = [];
  let layer: tf.layers.Layer | undefined = model.getLayer(target);
  while (layer && layer.getClassName() !== 'InputLayer') {
    chain.unshift(layer);
    const inbound = (layer as any).inboundNodes?.[0]?.inboundLayers as tf.layers.Layer[] | undefined;
    if (inbound?.length !== 1) {
      if (inbound && inbound.length > 1) throw new Error(`layer '${layer.name}' has several inputs`);
      break;
    }
    layer = inbound[0];
  }
  return chain;
}

function applyLayer(layer: tf.layers.Layer, x: tf.Tensor): tf.Tensor {
  const c = layer.getConfig() as Record<string, unknown>;
  const d = c.dilationRate as number | number[] | undefined;
  const [dh, dw] = d === undefined ? [1, 1] : typeof d === 'number' ? [d, d] : [d[0], d[1] ?? d[0]];
  if (layer.getClassName() === 'Conv2D' && (dh > 1 || dw > 1)) {
    const [kernel, bias] = layer.getWeights() as [tf.Tensor4D, tf.Tensor1D?];
    const k = dilateKernel(kernel, dh, dw);
    let y: tf.Tensor = tf.conv2d(
      x as tf.Tensor4D,
      k,
      c.strides as [number, number],
      c.padding as 'same' | 'valid',
    );
    if (bias) y = tf.add(y, bias);
    return (layer as any).activation.apply(y);
  }
  return layer.apply(x, { training: false }) as tf.Tensor;
}

/** Input box (inclusive, clipped to the image) on which output unit (y, x, channel) of `layer` depends. */
export function empiricalField(
  model: tf.LayersModel,
  layer: string,
  unit: { y: number; x: number; channel: number },
  opts: EmpiricalOptions = {},
): Box | undefined {
  const chain = chainTo(model, layer);
  const inShape = (model.inputs[0].shape as number[]).slice(1) as [number, number, number];
  const [H, W] = inShape;
  const samples = opts.samples ?? 8;
  const support = new Uint8Array(H * W);
  const f = (x: tf.Tensor) => {
    let t = x;
    for (const l of chain) t = applyLayer(l, t);
    return tf.sum(tf.slice(t, [0, unit.y, unit.x, unit.channel], [1, 1, 1, 1]));
  };
  const grad = tf.grad(f);
  for (let s = 0; s < samples; s++) {
    const g = tf.tidy(() => {
      const x = tf.randomUniform([1, ...inShape], 0.1, 1, 'float32', (opts.seed ?? 1) * 7919 + s);
      return tf.sum(tf.abs(grad(x)), [0, 3]);
    });
    const v = g.dataSync();
    g.dispose();
    for (let i = 0; i < v.length; i++) if (v[i] !== 0) support[i] = 1;
  }
  let box: Box | undefined;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      if (!support[y * W + x]) continue;
      if (!box) box = { y0: y, x0: x, y1: y, x1: x };
      else {
        box.y0 = Math.min(box.y0, y);
        box.x0 = Math.min(box.x0, x);
        box.y1 = Math.max(box.y1, y);
        box.x1 = Math.max(box.x1, x);
      }
    }
  return box;
}
