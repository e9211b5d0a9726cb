/** Helpers several op converters share. */
import * as tf from '@tensorflow/tfjs';
import type { Arg, NodeCtx } from '../context.ts';
import { identity, product, reshapeGroups, samePerm, toTf } from '../layout.ts';
import { type ConstValue, constOf, dimsOf, type SymValue, type Value } from '../values.ts';

/** A unary element-wise op: same layout in and out. Uses `keras` when given, else the 'unary' function. */
export function unary(
  c: NodeCtx,
  op: string,
  params: Record<string, unknown> = {},
  keras?: () => tf.layers.Layer,
): Value[] {
  const x = c.input(0);
  if (x.kind === 'sym' && keras && !c.eager && !x.order) {
    return [c.sym(c.keras(keras(), [x.t]), x.perm, x.type)];
  }
  const perm = x.kind === 'sym' && !x.order ? x.perm : identity(dimsOf(x).length);
  return c.op(
    'unary',
    { op, ...params },
    [{ v: x, perm }],
    [{ perm, type: x.kind === 'sym' ? x.type : x.tensor.type }],
  );
}

/** A constant with `rank` axes (leading 1s added, ONNX broadcasting). */
export function liftConst(v: ConstValue, rank: number): ConstValue {
  const dims = v.tensor.dims;
  if (dims.length >= rank) return v;
  return constOf(
    v.tensor.name,
    v.tensor.type,
    [...new Array(rank - dims.length).fill(1), ...dims],
    v.tensor.data,
  );
}

/**
 * Arguments for a broadcasting element-wise op: every operand in the layout of the first symbolic
 * one of the highest rank (constants are lifted to that rank and permuted); identity layouts when
 * symbolic operands have different ranks.
 */
export function broadcastArgs(c: NodeCtx, vals: Value[]): { args: Arg[]; perm: number[] } {
  const rank = Math.max(...vals.map((v) => dimsOf(v).length));
  const syms = vals.filter((v): v is SymValue => v.kind === 'sym');
  const lead = syms.find((v) => v.dims.length === rank && !v.order);
  const sameRank = syms.every((v) => v.dims.length === rank);
  const perm = lead && sameRank ? lead.perm : identity(rank);
  const args = vals.map((v) => {
    if (v.kind === 'const') return { v: liftConst(v, rank), perm };
    if (v.dims.length === rank) return { v, perm };
    return { v, perm: identity(v.dims.length) };
  });
  if (!sameRank) {
    // Lower-rank symbolic operands: reshape them (row-major) to the full rank first.
    for (const a of args) {
      const d = dimsOf(a.v);
      if (a.v.kind === 'sym' && d.length < rank) {
        a.v = reshapeTo(c, a.v, [...new Array(rank - d.length).fill(1), ...d]);
        a.perm = identity(rank);
      }
    }
  }
  return { args, perm };
}

/**
 * A row-major reshape of `v` to ONNX dims `to`, done in the value's own layout when the axes it
 * merges or splits sit together in that layout (a Flatten of [N, C, 1, 1], a channel shuffle), as a
 * flatten with a feature order when a NHWC tensor becomes [N, features] (a Gemm after it permutes its
 * weights instead), else in row-major order after a counted transpose.
 */
export function reshapeTo(c: NodeCtx, v: Value, to: number[]): Value {
  if (v.kind === 'const') return constOf(v.tensor.name, v.tensor.type, to, v.tensor.data);
  const from = v.dims;
  if (product(to) === 0) c.fail('empty (zero-size) tensors are not supported');
  if (product(from) !== product(to)) c.fail(`cannot reshape [${from}] to [${to}]`);
  const keepBatch = !v.order && v.perm[0] === 0 && from.length > 0 && to.length > 0 && from[0] === to[0];
  const planned = v.order ? null : planLayout(v, to, keepBatch);
  if (planned) return emitReshape(c, v, to, planned, keepBatch);
  if (keepBatch && to.length === 2 && !samePerm(v.perm, identity(from.length))) {
    // Flatten a permuted tensor as it lies; remember which ONNX feature each column holds.
    const tfShape = toTf(from, v.perm).slice(1);
    const onnxStrides = strides(from).map((s) => s);
    const order = new Int32Array(to[1]);
    const idx = new Array<number>(tfShape.length).fill(0);
    for (let j = 0; j < order.length; j++) {
      let o = 0;
      for (let i = 0; i < idx.length; i++) o += idx[i] * onnxStrides[v.perm[i + 1]];
      order[j] = o;
      for (let i = idx.length - 1; i >= 0; i--) {
        if (++idx[i] < tfShape[i]) break;
        idx[i] = 0;
      }
    }
    const out = emitReshape(c, v, to, identity(2), true, v.t);
    return { ...(out as SymValue), order };
  }
  if (!v.order) {
    // One transpose that only regroups the merged axes (a channel shuffle) instead of going row-major.
    const regrouped = regroup(v, to, keepBatch);
    if (regrouped) {
      const moved: SymValue = { ...v, t: c.arg(v, regrouped), perm: regrouped };
      const plan = planLayout(moved, to, keepBatch);
      if (plan) return emitReshape(c, moved, to, plan, keepBatch);
    }
  }
  const t = c.arg(v, identity(from.length));
  return emitReshape(
    c,
    { ...v, perm: identity(from.length), order: undefined },
    to,
    identity(to.length),
    keepBatch,
    t,
  );
}

function strides(dims: number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

/** `v`'s layout with each group of merged input axes put together in row-major order, or null. */
function regroup(v: SymValue, to: number[], keepBatch: boolean): number[] | null {
  const start = keepBatch ? 1 : 0;
  const groups = reshapeGroups(v.dims.slice(start), to.slice(start));
  if (!groups) return null;
  const target: number[] = [];
  const done = new Set<number>();
  for (const a of v.perm) {
    const g = a >= start && v.dims[a] !== 1 ? groups.find((gr) => gr.ins.includes(a - start)) : undefined;
    if (!g) target.push(a);
    else if (!done.has(a)) {
      for (const i of g.ins) {
        target.push(i + start);
        done.add(i + start);
      }
    }
  }
  return target.length === v.perm.length && !samePerm(target, v.perm) ? target : null;
}

/** The output layout that lets tfjs reshape `v` as it lies, or null. */
function planLayout(v: SymValue, to: number[], keepBatch: boolean): number[] | null {
  const from = v.dims;
  const start = keepBatch ? 1 : 0;
  const groups = reshapeGroups(from.slice(start), to.slice(start));
  if (!groups) return null;
  const shift = (g: number[]) => g.map((a) => a + start);
  const tfAxes = v.perm.slice(start).filter((a) => from[a] !== 1);
  const out: number[] = keepBatch ? [0] : [];
  let k = 0;
  while (k < tfAxes.length) {
    const g = groups.find((gr) => shift(gr.ins)[0] === tfAxes[k]);
    if (!g) return null;
    const ins = shift(g.ins);
    for (let i = 0; i < ins.length; i++) if (tfAxes[k + i] !== ins[i]) return null;
    k += ins.length;
    out.push(...shift(g.outs));
  }
  // Size-1 output axes go right after the axis before them (keeps identity layouts identity).
  for (let a = start; a < to.length; a++) {
    if (out.includes(a)) continue;
    const before = out.indexOf(a - 1);
    out.splice(before < 0 ? start : before + 1, 0, a);
  }
  return out;
}

function emitReshape(
  c: NodeCtx,
  v: SymValue,
  to: number[],
  perm: number[],
  keepBatch: boolean,
  t: tf.SymbolicTensor | tf.Tensor = v.t,
): Value {
  const shape = toTf(to, perm);
  if (keepBatch && !c.eager) {
    const y = c.keras(tf.layers.reshape({ targetShape: shape.slice(1), name: c.layerName() }), [t]);
    return c.sym(y, perm, v.type);
  }
  const tmp: SymValue = {
    ...v,
    t,
    perm: identity(v.dims.length),
    dims: t.shape.map((d) => d ?? c.cv.batch),
    order: undefined,
  };
  return c.op(
    'reshape',
    { shape, batch: keepBatch },
    [{ v: tmp, perm: tmp.perm }],
    [{ perm, type: v.type }],
  )[0];
}

/** Normalizes an axis attribute (negative counts from the end). */
export const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);
