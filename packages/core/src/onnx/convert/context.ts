/**
 * The conversion state and the helpers every op converter uses: reading attributes and constant
 * inputs, moving a value into the layout an op needs (counting each real transpose), adding a Keras
 * layer or a custom OnnxOpLayer, and folding nodes whose inputs are all constant (the same converter
 * code then runs on concrete tensors).
 */
import * as tf from '@tensorflow/tfjs';
import type { OnnxAttribute, OnnxElemType, OnnxGraph, OnnxNode, OnnxTensor } from '../graph.ts';
import { identity, samePerm, toOnnx, transposeBetween } from './layout.ts';
import { getOpFn, OnnxOpLayer, type OpParams, type OpWeight } from './op-layer.ts';
import { type ConstValue, constTensor, type SymValue, type TfDtype, tfDtype, type Value } from './values.ts';

export interface TransposeRecord {
  node: string;
  why: string;
}

export interface LayerRecord {
  node: string;
  op: string;
  layer: string;
  /** Keras class name, or 'OnnxOp:<fn>' for the custom layer. */
  kind: string;
}

/** A reference from a layer to one input argument: a value in the layout the op needs. */
export interface Arg {
  v: Value;
  perm: number[];
}

export interface OutSpec {
  perm: number[];
  type: OnnxElemType;
}

export function sanitizeName(name: string): string {
  const s = name.replace(/^\/+/, '').replace(/[^A-Za-z0-9_.-]+/g, '_');
  return /^[A-Za-z]/.test(s) ? s : `n_${s}`;
}

export class Conversion {
  readonly values = new Map<string, Value>();
  readonly transposes: TransposeRecord[] = [];
  readonly layers: LayerRecord[] = [];
  /** BatchNormalization nodes folded into the conv before them: bn node name → conv node. */
  readonly fusedBn = new Map<string, OnnxNode>();
  readonly bnOfConv = new Map<string, OnnxNode>();
  private readonly names = new Set<string>();
  private readonly relayouts = new WeakMap<SymValue, Map<string, tf.SymbolicTensor | tf.Tensor>>();
  readonly consumers = new Map<string, number>();
  /** Layers made so far, to free their weights when the conversion fails half-way. */
  readonly made: tf.layers.Layer[] = [];
  readonly graphOutputs: Set<string>;

  constructor(
    readonly graph: OnnxGraph,
    /** The batch size shapes are worked out with (the graph's, or 1 when it is symbolic). */
    readonly batch: number,
  ) {
    for (const n of graph.nodes)
      for (const i of n.inputs) if (i) this.consumers.set(i, (this.consumers.get(i) ?? 0) + 1);
    this.graphOutputs = new Set(graph.outputs.map((o) => o.name));
  }

  uniqueName(base: string): string {
    let name = sanitizeName(base);
    if (this.names.has(name)) {
      let k = 1;
      while (this.names.has(`${name}_${k}`)) k++;
      name = `${name}_${k}`;
    }
    this.names.add(name);
    return name;
  }

  /** The value of `name`, if the graph defines it. */
  value(name: string): Value | undefined {
    return this.values.get(name);
  }

  cachedRelayout(v: SymValue, key: string): tf.SymbolicTensor | tf.Tensor | undefined {
    return this.relayouts.get(v)?.get(key);
  }

  cacheRelayout(v: SymValue, key: string, t: tf.SymbolicTensor | tf.Tensor): void {
    let m = this.relayouts.get(v);
    if (!m) {
      m = new Map();
      this.relayouts.set(v, m);
    }
    m.set(key, t);
  }
}

const isSymbolic = (t: tf.SymbolicTensor | tf.Tensor): t is tf.SymbolicTensor =>
  t instanceof tf.SymbolicTensor;

export class NodeCtx {
  constructor(
    readonly cv: Conversion,
    readonly node: OnnxNode,
    /** True while folding: every input is a constant and tensors are concrete. */
    readonly eager: boolean,
  ) {}

  get opset(): number {
    return this.cv.graph.opset;
  }

  get where(): string {
    return `${this.node.opType} node '${this.node.name}'`;
  }

  fail(what: string): never {
    throw new Error(`${this.where}: ${what}`);
  }

  has(i: number): boolean {
    return !!this.node.inputs[i];
  }

  input(i: number): Value {
    const name = this.node.inputs[i];
    const v = name ? this.cv.value(name) : undefined;
    if (!v) this.fail(name ? `input '${name}' is not defined before the node` : `input ${i} is missing`);
    return v;
  }

  optInput(i: number): Value | undefined {
    return this.has(i) ? this.input(i) : undefined;
  }

  isConst(i: number): boolean {
    return this.has(i) && this.input(i).kind === 'const';
  }

  constant(i: number, what = `input ${i}`): OnnxTensor {
    const v = this.input(i);
    if (v.kind !== 'const') this.fail(`${what} must be a constant (it is computed from the graph's input)`);
    return v.tensor;
  }

  /** A constant input's values as plain numbers (shapes, axes, pads…). */
  ints(i: number, what?: string): number[] {
    return Array.from(this.constant(i, what).data);
  }

  attr(name: string): OnnxAttribute | undefined {
    return this.node.attributes[name];
  }

  int(name: string, d: number): number {
    const a = this.attr(name);
    return typeof a === 'number' ? a : d;
  }

  float(name: string, d: number): number {
    return this.int(name, d);
  }

  intList(name: string): number[] | undefined {
    const a = this.attr(name);
    return Array.isArray(a) && (a.length === 0 || typeof a[0] === 'number')
      ? (a as number[])
      : typeof a === 'number'
        ? [a]
        : undefined;
  }

  str(name: string, d: string): string {
    const a = this.attr(name);
    return typeof a === 'string' ? a : d;
  }

  layerName(suffix?: string): string {
    const base = this.node.name || this.node.outputs[0] || this.node.opType;
    return this.cv.uniqueName(suffix ? `${base}_${suffix}` : base);
  }

  private record(layer: string, kind: string): void {
    this.cv.layers.push({ node: this.node.name, op: this.node.opType, layer, kind });
  }

  /** Adds a Keras layer (or runs it, while folding). */
  keras(layer: tf.layers.Layer, inputs: (tf.SymbolicTensor | tf.Tensor)[]): tf.SymbolicTensor | tf.Tensor {
    const x = inputs.length === 1 ? inputs[0] : inputs;
    if (!this.eager) {
      this.record(layer.name, layer.getClassName());
      this.cv.made.push(layer);
    }
    return layer.apply(x as tf.SymbolicTensor) as tf.SymbolicTensor;
  }

  /** `v` as a tensor in layout `perm`; inserts (and counts) a transpose when it is not in it already. */
  arg(v: Value, perm: number[]): tf.SymbolicTensor | tf.Tensor {
    if (v.kind === 'const') {
      if (!this.eager) this.fail('a constant cannot be a layer input here');
      return constTensor(v.tensor, perm);
    }
    let t = v.t;
    let from = v.perm;
    if (v.order) {
      t = this.materializeOrder(v);
      from = identity(2);
    }
    if (samePerm(from, perm)) return t;
    const key = perm.join(',');
    const cached = this.cv.cachedRelayout(v, key);
    if (cached) return cached;
    const q = transposeBetween(from, perm);
    if (!this.eager) this.cv.transposes.push({ node: this.node.name, why: `[${from}] → [${perm}]` });
    const name = this.eager ? 'fold' : this.layerName('transpose');
    const out =
      q[0] === 0 && !this.eager
        ? this.keras(tf.layers.permute({ dims: q.slice(1), name }), [t])
        : this.runOp('transpose', { perm: q }, [t], [], undefined, name)[0];
    this.cv.cacheRelayout(v, key, out);
    return out;
  }

  private materializeOrder(v: SymValue): tf.SymbolicTensor | tf.Tensor {
    const cached = this.cv.cachedRelayout(v, 'order');
    if (cached) return cached;
    const order = v.order as Int32Array;
    const inv = new Array<number>(order.length);
    order.forEach((o, j) => {
      inv[o] = j;
    });
    if (!this.eager)
      this.cv.transposes.push({ node: this.node.name, why: 'flattened NHWC features back to NCHW order' });
    const out = this.runOp(
      'gather',
      { axis: 1, indices: inv },
      [v.t],
      [],
      undefined,
      this.layerName('reorder'),
    )[0];
    this.cv.cacheRelayout(v, 'order', out);
    return out;
  }

  /** Wraps a tensor in layout `perm` as a value of this node. */
  sym(t: tf.SymbolicTensor | tf.Tensor, perm: number[], type: OnnxElemType, order?: Int32Array): SymValue {
    const shape = t.shape.map((d) => d ?? this.cv.batch);
    return { kind: 'sym', t, dims: toOnnx(shape, perm), perm, type, order };
  }

  /**
   * Runs registered function `fn` as an OnnxOpLayer (or directly, while folding). Arguments that are
   * symbolic become layer inputs in the layouts asked for; constants become the layer's weights
   * (transposed into their layout). `trainable` marks float weights as trainable (Gemm-like ops).
   */
  op(fn: string, params: OpParams, args: Arg[], outs: OutSpec[], trainable = false): SymValue[] {
    const tensors: (tf.SymbolicTensor | tf.Tensor)[] = [];
    const weights: OpWeight[] = [];
    const slots: number[] = [];
    const symCount = this.eager ? args.length : args.filter((a) => a.v.kind === 'sym').length;
    for (const a of args) {
      if (a.v.kind === 'sym' || this.eager) {
        slots.push(tensors.length);
        tensors.push(this.arg(a.v, a.perm));
      } else {
        const c = constTensor(a.v.tensor, a.perm);
        weights.push({
          shape: c.shape,
          dtype: c.dtype === 'float32' ? 'float32' : 'int32',
          values: Array.from(c.dataSync()),
        });
        c.dispose();
        slots.push(symCount + weights.length - 1);
      }
    }
    if (!this.eager && tensors.length === 0)
      this.fail('has no input computed from the graph (internal: should have been folded)');
    const ts = this.runOp(
      fn,
      params,
      tensors,
      weights,
      slots,
      this.eager ? 'fold' : this.layerName(),
      trainable,
    );
    return ts.map((t, i) => this.sym(t, outs[i].perm, outs[i].type));
  }

  private runOp(
    fn: string,
    params: OpParams,
    tensors: (tf.SymbolicTensor | tf.Tensor)[],
    weights: OpWeight[],
    slots: number[] | undefined,
    name: string,
    trainable = false,
  ): (tf.SymbolicTensor | tf.Tensor)[] {
    if (this.eager) {
      const y = getOpFn(fn)(tensors as tf.Tensor[], params);
      return Array.isArray(y) ? y : [y];
    }
    // Output shapes: run the function once on zeros of the inputs' shapes (batch at its conversion size).
    const probe = tf.tidy(() => {
      const ins = (tensors as tf.SymbolicTensor[]).map((t) =>
        tf.zeros(
          t.shape.map((d) => d ?? this.cv.batch),
          t.dtype,
        ),
      );
      const ws = weights.map((w) => tf.tensor(w.values, w.shape, w.dtype));
      const all = [...ins, ...ws];
      const y = getOpFn(fn)(slots ? slots.map((s) => all[s]) : all, params);
      return Array.isArray(y) ? y : [y];
    });
    const batchFollows = (tensors[0] as tf.SymbolicTensor).shape[0] === null;
    const outShapes = probe.map((r) =>
      r.shape.map((d, i): number | null => (i === 0 && batchFollows && d === this.cv.batch ? null : d)),
    );
    tf.dispose(probe);
    const layer = new OnnxOpLayer({ name, fn, params, outShapes, weights, slots, trainable });
    this.cv.made.push(layer);
    this.record(name, `OnnxOp:${fn}`);
    const y = layer.apply((tensors.length === 1 ? tensors[0] : tensors) as tf.SymbolicTensor[]) as
      | tf.SymbolicTensor
      | tf.SymbolicTensor[];
    return Array.isArray(y) ? y : [y];
  }

  /** Passes a value through unchanged (Identity, Dropout, a folded BatchNormalization). */
  same(v: Value): Value {
    return v;
  }
}

export const isSym = (v: Value | undefined): v is SymValue => v?.kind === 'sym';
export const isConstValue = (v: Value | undefined): v is ConstValue => v?.kind === 'const';
export type { TfDtype };
export { isSymbolic, tfDtype };
