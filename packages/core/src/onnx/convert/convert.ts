/**
 * ONNX graph → tfjs LayersModel. Ops map onto Keras layers where one exists (Conv2D, DepthwiseConv2D,
 * BatchNormalization, Dense, pooling, activations, merges, Reshape…) and onto the one custom layer
 * (OnnxOpLayer) elsewhere, so every intermediate value is a named layer output, the model saves and
 * reloads, and gradients flow through ordinary tfjs ops. NCHW values live as NHWC; transposes are
 * folded into layouts (see layout.ts) and only inserted, and counted, where an op needs another order.
 */
import * as tf from '@tensorflow/tfjs';
import type { OnnxGraph, OnnxNode } from '../graph.ts';
import './all-ops.ts';
import { moduleAliases } from './aliases.ts';
import { Conversion, type LayerRecord, NodeCtx, type TransposeRecord } from './context.ts';
import { channelsLast, identity, toTf } from './layout.ts';
import { onnxOpConverter } from './registry.ts';
import { type ConstValue, type SymValue, tensorToConst, tfDtype, type Value } from './values.ts';

export interface ConvertOptions {
  /** The input's dims in the file's layout (NCHW), with or without the batch: fixes symbolic sizes. */
  inputShape?: number[];
  /** The model's name. */
  name?: string;
}

export interface UnsupportedNode {
  op: string;
  domain: string;
  node: string;
  /** Position in the graph's node list (0-based) and the node count, for messages. */
  index: number;
  count: number;
}

export interface ConvertedOnnx {
  model: tf.LayersModel;
  /** tfjs layout of the first input: 'NHWC' for an image ([h, w, c] per example), else 'plain'. */
  inputLayout: 'NHWC' | 'plain' | 'channels-last';
  /** Per model input and output (in model order): the ONNX axis each tfjs axis holds. */
  inputPerms: number[][];
  outputPerms: number[][];
  /**
   * Names → tfjs layer names: readable module names (`layer4.1.relu`, `layer4`), ONNX node names and
   * ONNX value names, for every value a layer computes.
   */
  aliases: Record<string, string>;
  /** Graph outputs that folded to constants (not model outputs), by output index. */
  constOutputs: Map<number, ConstValue>;
  /** Transposes the conversion had to insert (a ResNet-style graph needs none). */
  transposes: TransposeRecord[];
  /** Every layer made, with the ONNX node and op it came from and its class. */
  layers: LayerRecord[];
  /** Batch size the shapes were worked out with. */
  batch: number;
}

export class OnnxUnsupportedError extends Error {
  constructor(readonly unsupported: UnsupportedNode[]) {
    const u = unsupported[0];
    const more =
      unsupported.length > 1
        ? ` (and ${unsupported.length - 1} more: ${[...new Set(unsupported.slice(1).map((x) => x.op))].join(', ')})`
        : '';
    super(
      `unsupported ONNX operator '${u.domain ? `${u.domain}.` : ''}${u.op}' at node '${u.node}' (node ${u.index + 1} of ${u.count})${more}`,
    );
  }
}

/** Nodes whose operator has no converter. */
export function findUnsupported(graph: OnnxGraph): UnsupportedNode[] {
  return graph.nodes.flatMap((n, index) =>
    onnxOpConverter(n.opType, n.domain)
      ? []
      : [{ op: n.opType, domain: n.domain, node: n.name, index, count: graph.nodes.length }],
  );
}

/** BatchNormalization nodes that directly follow a conv used only by them: folded into its weights. */
function planBnFusion(cv: Conversion): void {
  const producer = new Map<string, OnnxNode>();
  for (const n of cv.graph.nodes) for (const o of n.outputs) producer.set(o, n);
  for (const bn of cv.graph.nodes) {
    if (bn.opType !== 'BatchNormalization' || bn.attributes.training_mode === 1) continue;
    const conv = producer.get(bn.inputs[0]);
    if (conv?.opType !== 'Conv' || cv.consumers.get(bn.inputs[0]) !== 1 || cv.graphOutputs.has(bn.inputs[0]))
      continue;
    if (![1, 2, 3, 4].every((i) => cv.graph.initializers.has(bn.inputs[i]))) continue;
    if (conv.inputs[1] && !cv.graph.initializers.has(conv.inputs[1])) continue;
    cv.fusedBn.set(bn.name, conv);
    cv.bnOfConv.set(conv.name, bn);
  }
}

function inputDims(graph: OnnxGraph, index: number, override?: number[]): number[] {
  const info = graph.inputs[index];
  let shape = info.shape;
  if (index === 0 && override) shape = override.length === shape.length ? override : [shape[0], ...override];
  return shape.map((d, i) => {
    if (typeof d === 'number' && d > 0) return d;
    if (i === 0) return 1;
    throw new Error(
      `input '${info.name}' has a symbolic size '${d ?? '?'}' at axis ${i} ([${info.shape.map((x) => x ?? '?')}]): give the input shape (--input-shape)`,
    );
  });
}

export function convertOnnx(graph: OnnxGraph, o: ConvertOptions = {}): ConvertedOnnx {
  const unsupported = findUnsupported(graph);
  if (unsupported.length) throw new OnnxUnsupportedError(unsupported);
  let cv: Conversion | undefined;
  try {
    return build(graph, o, (c) => {
      cv = c;
    });
  } catch (e) {
    // Free the weights of every layer made before the failure.
    for (const l of cv?.made ?? []) if (l.built) tf.dispose(l.weights.map((w) => w.read()));
    throw e;
  }
}

function build(graph: OnnxGraph, o: ConvertOptions, started: (cv: Conversion) => void): ConvertedOnnx {
  const dims0 = graph.inputs.map((_, i) => inputDims(graph, i, o.inputShape));
  const cv = new Conversion(graph, dims0[0]?.[0] ?? 1);
  started(cv);
  for (const [name, t] of graph.initializers) cv.values.set(name, { kind: 'const', tensor: t });
  planBnFusion(cv);
  const inputs: tf.SymbolicTensor[] = [];
  const inputPerms: number[][] = [];
  graph.inputs.forEach((info, i) => {
    const dims = dims0[i];
    const perm = channelsLast(dims.length);
    const shape = toTf(dims, perm);
    // Inputs share the batch axis (null: any batch) when their first dim is the batch's size.
    const batch = dims[0] === cv.batch ? null : dims[0];
    const t = tf.input({
      batchShape: [batch, ...shape.slice(1)],
      name: cv.uniqueName(info.name),
      dtype: tfDtype(info.type) as 'float32',
    });
    inputs.push(t);
    inputPerms.push(perm);
    cv.values.set(info.name, { kind: 'sym', t, dims, perm, type: info.type });
  });
  const nodeLayers: { name: string; layer: string }[] = [];
  const aliases: Record<string, string> = {};
  for (const node of graph.nodes) {
    const present = node.inputs.filter(Boolean).map((n) => cv.values.get(n));
    const eager = present.every((v) => v?.kind === 'const');
    const convert = onnxOpConverter(node.opType, node.domain) as (c: NodeCtx) => Value[];
    let outs: Value[];
    if (eager) {
      // Fold: run the same converter on concrete tensors, keep constants.
      tf.engine().startScope();
      try {
        const vs = convert(new NodeCtx(cv, node, true));
        outs = vs.map((v, i) =>
          v.kind === 'const'
            ? v
            : ({
                kind: 'const',
                tensor: tensorToConst(v.t as tf.Tensor, v.perm, node.outputs[i], v.type),
              } as ConstValue),
        );
      } finally {
        tf.engine().endScope();
      }
    } else outs = convert(new NodeCtx(cv, node, false));
    node.outputs.forEach((name, i) => {
      if (!name || !outs[i]) return;
      cv.values.set(name, outs[i]);
      const v = outs[i];
      if (v.kind === 'sym' && v.t instanceof tf.SymbolicTensor) {
        const layer = v.t.sourceLayer.name;
        aliases[name] = layer;
        if (i === 0) {
          aliases[node.name] = layer;
          nodeLayers.push({ name: node.name, layer });
        }
      }
    });
  }
  const outputs: tf.SymbolicTensor[] = [];
  const outputPerms: number[][] = [];
  const constOutputs = new Map<number, ConstValue>();
  graph.outputs.forEach((info, i) => {
    const v = cv.values.get(info.name);
    if (!v) throw new Error(`graph output '${info.name}' is never computed`);
    if (v.kind === 'const') {
      constOutputs.set(i, v);
      return;
    }
    const c = new NodeCtx(
      cv,
      { name: info.name, opType: 'Output', domain: '', inputs: [], outputs: [], attributes: {} },
      false,
    );
    let sv: SymValue = v;
    if (sv.order) sv = { ...sv, t: c.arg(sv, identity(2)), perm: identity(2), order: undefined };
    // A model output must come out of a layer, not be an input.
    let t = sv.t as tf.SymbolicTensor;
    if (inputs.includes(t) || outputs.includes(t))
      t = c.op('identity', {}, [{ v: sv, perm: sv.perm }], [{ perm: sv.perm, type: sv.type }])[0]
        .t as tf.SymbolicTensor;
    outputs.push(t);
    outputPerms.push(sv.perm);
  });
  // Every output folded to a constant: the model only passes its first input on (runOnnxGraph reads constOutputs).
  if (!outputs.length && inputs.length) outputs.push(inputs[0]);
  if (!outputs.length)
    throw new Error('the graph has no input and every output is a constant: nothing to run');
  const model = tf.model({ inputs, outputs, name: o.name ?? cv.uniqueName(graph.name || 'onnx_model') });
  const first = inputPerms[0] ?? [];
  return {
    model,
    inputLayout: first.length === 4 ? 'NHWC' : first.length >= 3 ? 'channels-last' : 'plain',
    inputPerms,
    outputPerms,
    aliases: { ...aliases, ...moduleAliases(nodeLayers) },
    constOutputs,
    transposes: cv.transposes,
    layers: cv.layers,
    batch: cv.batch,
  };
}
