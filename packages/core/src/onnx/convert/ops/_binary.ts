import * as tf from '@tensorflow/tfjs';
import type { NodeCtx } from '../context.ts';
import { constOf, dimsOf, type SymValue, type Value } from '../values.ts';
import { broadcastArgs } from './_shared.ts';

const KERAS: Record<string, ((name: string) => tf.layers.Layer) | undefined> = {
  add: (name) => tf.layers.add({ name }),
  mul: (name) => tf.layers.multiply({ name }),
  max: (name) => tf.layers.maximum({ name }),
  min: (name) => tf.layers.minimum({ name }),
};

/**
 * Element-wise ops with ONNX (numpy) broadcasting. Symbolic operands of one rank meet in a Keras
 * merge layer (which broadcasts size-1 axes: an SE block's [N,1,1,C] gate times [N,H,W,C]);
 * constant operands become weights of the 'binary' function's layer.
 */
export function binary(c: NodeCtx, op: string): Value[] {
  const vals = c.node.inputs.map((_, i) => c.input(i));
  const b = vals[1];
  if (c.opset < 7 && vals.length === 2 && b.kind === 'const') {
    // Before opset 7: B lines up with A from `axis` (broadcast=1), and PRelu's 1-D slope is per channel.
    const a = dimsOf(vals[0]);
    let axis: number | undefined;
    if (op === 'prelu' && b.tensor.dims.length === 1 && a.length > 2 && b.tensor.dims[0] === a[1]) axis = 1;
    else if (c.int('broadcast', 0) === 1 && c.attr('axis') !== undefined) axis = c.int('axis', 0);
    if (axis !== undefined) {
      const ones = new Array(
        Math.max(0, a.length - (axis < 0 ? axis + a.length : axis) - b.tensor.dims.length),
      ).fill(1);
      vals[1] = constOf(b.tensor.name, b.tensor.type, [...b.tensor.dims, ...ones], b.tensor.data);
    }
  }
  const { args, perm } = broadcastArgs(c, vals);
  const type =
    (vals.find((v) => v.kind === 'sym') as SymValue | undefined)?.type ??
    (vals[0].kind === 'const' ? vals[0].tensor.type : 'float');
  const keras = KERAS[op];
  const allSym = args.every((a) => a.v.kind === 'sym');
  const ts0 = (a: (typeof args)[number]) => (a.v.kind === 'sym' ? a.v.t.shape[0] : undefined);
  // Keras merge layers broadcast every axis but the batch: the first axes must agree.
  const sameBatch = args.every((a) => ts0(a) === ts0(args[0]));
  if (!c.eager && keras && allSym && sameBatch && args.length > 1 && args.every((a) => a.perm === perm)) {
    const ts = args.map((a) => c.arg(a.v, a.perm));
    return [c.sym(c.keras(keras(c.layerName()), ts), perm, type)];
  }
  return c.op('binary', { op }, args, [{ perm, type }]);
}
