/**
 * The tfjs functions OnnxOpLayer runs, by name. Each takes its inputs in the layouts the converter
 * chose and plain-JSON parameters already worked out at conversion (tfjs axes, index lists), so a
 * saved model needs nothing but these names.
 */
import * as tf from '@tensorflow/tfjs';
import { type OpParams, registerOpFn } from './op-layer.ts';

const p = <T>(params: OpParams, k: string) => params[k] as T;

const UNARY: Record<string, (x: tf.Tensor, o: OpParams) => tf.Tensor> = {
  relu: (x) => tf.relu(x),
  sigmoid: (x) => tf.sigmoid(x),
  tanh: (x) => tf.tanh(x),
  exp: (x) => tf.exp(x),
  log: (x) => tf.log(x),
  abs: (x) => tf.abs(x),
  neg: (x) => tf.neg(x),
  sqrt: (x) => tf.sqrt(x),
  reciprocal: (x) => tf.reciprocal(x),
  floor: (x) => tf.floor(x),
  ceil: (x) => tf.ceil(x),
  erf: (x) => tf.erf(x),
  softplus: (x) => tf.softplus(x),
  softsign: (x) => tf.div(x, tf.add(tf.abs(x), 1)),
  elu: (x, o) => {
    const a = p<number>(o, 'alpha');
    return tf.where(tf.greater(x, 0), x, tf.mul(a, tf.sub(tf.exp(x), 1)));
  },
  selu: (x, o) => {
    const a = p<number>(o, 'alpha');
    const g = p<number>(o, 'gamma');
    return tf.mul(g, tf.where(tf.greater(x, 0), x, tf.mul(a, tf.sub(tf.exp(x), 1))));
  },
  leaky: (x, o) => tf.leakyRelu(x, p<number>(o, 'alpha')),
  // wasm's ClipByValue reads float32 only: clip integers as floats.
  clip: (x, o) =>
    x.dtype === 'int32'
      ? tf.cast(tf.clipByValue(tf.cast(x, 'float32'), p<number>(o, 'min'), p<number>(o, 'max')), 'int32')
      : tf.clipByValue(x, p<number>(o, 'min'), p<number>(o, 'max')),
  hardSigmoid: (x, o) => tf.clipByValue(tf.add(tf.mul(x, p<number>(o, 'alpha')), p<number>(o, 'beta')), 0, 1),
  hardSwish: (x) => tf.mul(x, tf.clipByValue(tf.add(tf.div(x, 6), 0.5), 0, 1)),
};

registerOpFn('unary', ([x], o) => {
  const f = UNARY[p<string>(o, 'op')];
  if (!f) throw new Error(`unknown unary op '${o.op}'`);
  return f(x, o);
});

const BINARY: Record<string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor> = {
  add: tf.add,
  sub: tf.sub,
  mul: tf.mul,
  div: (a, b) => (a.dtype === 'int32' ? tf.floorDiv(a, b) : tf.div(a, b)),
  pow: tf.pow,
  max: tf.maximum,
  min: tf.minimum,
  prelu: (x, s) => tf.where(tf.less(x, 0), tf.mul(x, s), x),
};

registerOpFn('binary', (xs, o) => {
  const f = BINARY[p<string>(o, 'op')];
  if (!f) throw new Error(`unknown binary op '${o.op}'`);
  return xs.slice(1).reduce((acc, x) => f(acc, x), xs[0]);
});

registerOpFn('transpose', ([x], o) => tf.transpose(x, p<number[]>(o, 'perm')));

registerOpFn('reshape', ([x], o) => {
  const shape = [...p<number[]>(o, 'shape')];
  // A batch-following reshape keeps whatever batch it is given.
  if (o.batch) shape[0] = x.shape[0];
  return tf.reshape(x, shape);
});

registerOpFn('gather', ([x, idx], o) => {
  const indices =
    idx ?? tf.tensor(p<number[]>(o, 'indices'), p<number[] | undefined>(o, 'indexShape'), 'int32');
  return tf.gather(x, indices, p<number>(o, 'axis'));
});

registerOpFn('slice', ([x], o) => tf.slice(x, p<number[]>(o, 'begin'), p<number[]>(o, 'size')));

registerOpFn('concat', (xs, o) => tf.concat(xs, p<number>(o, 'axis')));

registerOpFn('cast', ([x], o) => {
  const to = p<'float32' | 'int32' | 'bool'>(o, 'dtype');
  // ONNX casts float → int by truncation; tfjs's cast does the same for int32.
  return x.dtype === to ? tf.clone(x) : tf.cast(x, to);
});

/** Softmax over one axis (or over axes [axis, rank) flattened, ONNX < 13's rule when `flat`). */
registerOpFn('softmax', ([x], o) => {
  const axis = p<number>(o, 'axis');
  const f = (t: tf.Tensor) => (o.log ? tf.logSoftmax(t) : tf.softmax(t));
  if (o.flat) {
    const lead = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
    return f(tf.reshape(x, [lead, -1])).reshape(x.shape);
  }
  if (axis === x.rank - 1) return f(x);
  // tfjs's softmax works on the last axis only: swap the axis there and back.
  const perm = x.shape.map((_, i) => i);
  perm[axis] = x.rank - 1;
  perm[x.rank - 1] = axis;
  return tf.transpose(f(tf.transpose(x, perm)), perm);
});

registerOpFn('pad', ([x], o) => {
  const paddings = p<[number, number][]>(o, 'paddings');
  const mode = p<string>(o, 'mode');
  if (mode === 'constant') return tf.pad(x, paddings, p<number>(o, 'value'));
  // reflect / edge: gather each padded axis with reflected or clamped indices (differentiable).
  let y = x;
  paddings.forEach(([b, e], axis) => {
    if (!b && !e) return;
    const n = y.shape[axis];
    const idx: number[] = [];
    for (let i = -b; i < n + e; i++) {
      if (mode === 'edge') idx.push(Math.min(n - 1, Math.max(0, i)));
      else {
        let j = i;
        while (j < 0 || j >= n) j = j < 0 ? -j : 2 * (n - 1) - j;
        idx.push(j);
      }
    }
    y = tf.gather(y, tf.tensor1d(idx, 'int32'), axis);
  });
  return y;
});

/** Crops after a negative pad (ONNX Pad allows negative pads). */
registerOpFn('crop', ([x], o) => tf.slice(x, p<number[]>(o, 'begin'), p<number[]>(o, 'size')));

/** Resizes by gathering along each axis that changes size (nearest) and blending two gathers (linear). */
registerOpFn('resize', ([x], o) => {
  const axes = p<{ axis: number; i0: number[]; i1?: number[]; w?: number[] }[]>(o, 'axes');
  let y = x;
  for (const a of axes) {
    const g0 = tf.gather(y, tf.tensor1d(a.i0, 'int32'), a.axis);
    if (!a.i1 || !a.w) {
      y = g0;
      continue;
    }
    const g1 = tf.gather(y, tf.tensor1d(a.i1, 'int32'), a.axis);
    const shape = y.shape.map((_, i) => (i === a.axis ? (a.w?.length ?? 1) : 1));
    const w = tf.tensor(a.w, shape);
    y = tf.add(g0, tf.mul(tf.sub(g1, g0), w));
  }
  return y;
});

/** Pooling with explicit pads, ceil mode and (average) ONNX's divisor rules; NHWC 2-D. */
registerOpFn('pool', ([x], o) => {
  const [pt, pl, pb, pr] = p<number[]>(o, 'pads');
  const k = p<[number, number]>(o, 'kernel');
  const s = p<[number, number]>(o, 'strides');
  const paddings: [number, number][] = [
    [0, 0],
    [pt, pb],
    [pl, pr],
    [0, 0],
  ];
  if (o.type === 'max') return tf.maxPool(tf.pad(x, paddings, -3.4e38) as tf.Tensor4D, k, s, 'valid');
  const sum = tf.mul(tf.avgPool(tf.pad(x, paddings) as tf.Tensor4D, k, s, 'valid'), k[0] * k[1]);
  const counts = p<number[]>(o, 'counts');
  return tf.div(sum, tf.tensor(counts, [1, sum.shape[1] as number, sum.shape[2] as number, 1]));
});

registerOpFn('matmul', ([a, b]) => {
  const va = a.rank === 1 ? a.expandDims(0) : a;
  const vb = b.rank === 1 ? b.expandDims(1) : b;
  const rank = Math.max(va.rank, vb.rank);
  const lift = (t: tf.Tensor) =>
    t.rank < rank ? t.reshape([...new Array(rank - t.rank).fill(1), ...t.shape]) : t;
  let ta = lift(va);
  let tb = lift(vb);
  // Broadcast leading (batch) axes explicitly: tfjs matMul wants them equal.
  const lead = ta.shape.slice(0, -2).map((d, i) => Math.max(d, tb.shape[i]));
  ta = tf.broadcastTo(ta, [...lead, ...ta.shape.slice(-2)]);
  tb = tf.broadcastTo(tb, [...lead, ...tb.shape.slice(-2)]);
  let y = tf.matMul(ta, tb);
  if (a.rank === 1) y = y.squeeze([y.rank - 2]);
  if (b.rank === 1) y = y.squeeze([y.rank - 1]);
  return y;
});

/** Conv with groups other than 1 or depthwise: split channels, convolve each group, concatenate. */
registerOpFn('grouped_conv', ([x, w, bias], o) => {
  const g = p<number>(o, 'groups');
  const xs = tf.split(x, g, 3);
  const ws = tf.split(w, g, 3);
  const ys = xs.map((xi, i) =>
    tf.conv2d(
      xi as tf.Tensor4D,
      ws[i] as tf.Tensor4D,
      p<[number, number]>(o, 'strides'),
      'valid',
      'NHWC',
      p<[number, number]>(o, 'dilations'),
    ),
  );
  const y = tf.concat(ys, 3);
  return bias ? tf.add(y, bias) : y;
});

registerOpFn('conv_transpose', ([x, w, bias], o) => {
  const full = p<number[]>(o, 'full');
  let y: tf.Tensor = tf.conv2dTranspose(
    x as tf.Tensor4D,
    w as tf.Tensor4D,
    [x.shape[0], full[0], full[1], w.shape[2]] as [number, number, number, number],
    p<[number, number]>(o, 'strides'),
    'valid',
  );
  const [t, l] = p<number[]>(o, 'begin');
  const size = p<number[]>(o, 'size');
  y = tf.slice(y, [0, t, l, 0], [-1, size[0], size[1], -1]);
  return bias ? tf.add(y, bias) : y;
});

registerOpFn('identity', ([x]) => tf.clone(x));

registerOpFn('expand', ([x], o) => tf.broadcastTo(x, p<number[]>(o, 'shape')));

registerOpFn('mean', ([x], o) => tf.mean(x, p<number[]>(o, 'axes'), true));

registerOpFn('reduce', ([x], o) => {
  const axes = p<number[]>(o, 'axes');
  const keep = !!o.keepDims;
  switch (p<string>(o, 'op')) {
    case 'mean':
      return tf.mean(x, axes, keep);
    case 'sum':
      return tf.sum(x, axes, keep);
    case 'max':
      return tf.max(x, axes, keep);
    case 'min':
      return tf.min(x, axes, keep);
    default:
      throw new Error(`unknown reduction '${o.op}'`);
  }
});

/** Normalizes over the trailing tfjs axes given, then scales and shifts (LayerNormalization). */
registerOpFn('layer_norm', ([x, scale, bias], o) => {
  const axes = p<number[]>(o, 'axes');
  const { mean, variance } = tf.moments(x, axes, true);
  const y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, p<number>(o, 'epsilon'))));
  const s = scale ? tf.mul(y, scale) : y;
  return bias ? tf.add(s, bias) : s;
});
