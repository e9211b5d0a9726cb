import * as tf from '@tensorflow/tfjs';
import type { OnnxTensor } from '../../graph.ts';
import type { NodeCtx } from '../context.ts';
import { transposeData } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import type { SymValue, Value } from '../values.ts';
import { liftConst } from './_shared.ts';

/**
 * A Dense layer for x · W (+ b) with constant W. A flattened NHWC input (a value with a feature
 * order) gets W's rows permuted instead of a transpose of the activations.
 */
export function dense(
  c: NodeCtx,
  x: SymValue,
  w: Float32Array,
  k: number,
  n: number,
  bias?: Float32Array,
): Value {
  let kernel = w;
  if (x.order) {
    const order = x.order;
    kernel = new Float32Array(k * n);
    for (let j = 0; j < k; j++) kernel.set(w.subarray(order[j] * n, order[j] * n + n), j * n);
  }
  const perm = x.order ? [0, 1] : x.perm;
  const t = x.order ? x.t : c.arg(x, perm);
  const layer = tf.layers.dense({
    units: n,
    useBias: !!bias,
    kernelInitializer: 'zeros',
    name: c.layerName(),
  });
  // Applied before its weights are set: building inside apply() names them '<layer>/kernel'.
  const y = c.keras(layer, [t]);
  const ws = [tf.tensor2d(kernel, [k, n]), ...(bias ? [tf.tensor1d(bias)] : [])];
  layer.setWeights(ws);
  tf.dispose(ws);
  return c.sym(y, perm, x.type);
}

registerOnnxOp('Gemm', (c) => {
  let a = c.input(0) as import('../values.ts').SymValue | import('../values.ts').ConstValue;
  const alpha = c.float('alpha', 1);
  const beta = c.float('beta', 1);
  if (a.kind === 'const' || c.eager) return c.fail('a constant first input is not supported');
  if (c.int('transA', 0)) {
    // Aᵀ is A with its axes relabelled (no data moves).
    const t = c.arg(a, a.order ? [0, 1] : a.perm);
    const perm = a.order ? [0, 1] : a.perm;
    a = { ...a, t, dims: [a.dims[1], a.dims[0]], perm: perm.map((p) => 1 - p), order: undefined };
  }
  const b = c.constant(1, 'B (weights)');
  const transB = c.int('transB', 0) === 1;
  const [k, n] = transB ? [b.dims[1], b.dims[0]] : b.dims;
  const w = Float32Array.from(transB ? transposeData(b.data, b.dims, [1, 0]) : b.data, (v) => v * alpha);
  let bias: Float32Array | undefined;
  let full: OnnxTensor | undefined;
  if (c.has(2)) {
    const cc = c.constant(2, 'C (bias)');
    const size = cc.data.length;
    if (size === n || size === 1)
      bias = Float32Array.from({ length: n }, (_, i) => beta * cc.data[size === 1 ? 0 : i]);
    // A bias per row and column (rare): added after the Dense layer.
    else full = { ...cc, data: Float32Array.from(cc.data, (v) => beta * v) };
  }
  if (a.perm[0] !== 0 && !a.order) {
    // A transposed input whose batch axis moved: put it back (a counted transpose).
    a = { ...a, t: c.arg(a, [0, 1]), perm: [0, 1] };
  }
  const y = dense(c, a, w, k, n, bias);
  if (!full) return [y];
  const perm = (y as SymValue).perm;
  return c.op(
    'binary',
    { op: 'add' },
    [
      { v: y, perm },
      { v: liftConst({ kind: 'const', tensor: full }, 2), perm },
    ],
    [{ perm, type: 'float' }],
  );
});
