import type { NodeCtx } from '../context.ts';
import { identity, tfAxis } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import { dimsOf, type Value } from '../values.ts';
import { normAxis } from './_shared.ts';

/** ReduceMean/Sum/Max/Min over ONNX axes, done on the matching tfjs axes of the value's layout. */
function reduce(c: NodeCtx, op: string): Value[] {
  const x = c.input(0);
  const rank = dimsOf(x).length;
  // ReduceSum (opset 13) and the others (opset 18) moved axes from an attribute to an input.
  const fromInput = (op === 'sum' && c.opset >= 13) || c.opset >= 18;
  const given = fromInput ? (c.has(1) ? c.ints(1, 'axes') : undefined) : c.intList('axes');
  if (!given?.length && c.int('noop_with_empty_axes', 0)) return [x];
  const axes = (given?.length ? given : identity(rank)).map((a) => normAxis(a, rank));
  const keepDims = c.int('keepdims', 1) === 1;
  const perm = x.kind === 'sym' && !x.order ? x.perm : identity(rank);
  const type = x.kind === 'const' ? x.tensor.type : x.type;
  const out = keepDims
    ? perm
    : perm.filter((a) => !axes.includes(a)).map((a) => a - axes.filter((r) => r < a).length);
  const tfAxes = axes.map((a) => tfAxis(a, perm));
  return c.op('reduce', { op, axes: tfAxes, keepDims }, [{ v: x, perm }], [{ perm: out, type }]);
}

registerOnnxOp('ReduceMean', (c) => reduce(c, 'mean'));
registerOnnxOp('ReduceSum', (c) => reduce(c, 'sum'));
registerOnnxOp('ReduceMax', (c) => reduce(c, 'max'));
registerOnnxOp('ReduceMin', (c) => reduce(c, 'min'));
