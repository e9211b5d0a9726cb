/**
 * A model's inference twin: the same graph, computing the same scores, in which every chain
 * conv → batch norm → relu/relu6 runs as one folded conv (models/folded-conv.ts), and every other
 * conv as the same op without the fold. Every other layer is a thin stand-in that calls the original
 * layer's own `call` with the original's variables, so the twin never holds stale weights, and a method that patches a layer's `call` to capture or edit
 * its output (layer-gradients.ts, layer-forward.ts, guided backprop, DeepLIFT, LRP) sees its patch
 * run in the twin too: a patched chain member makes its chain run unfolded for that call.
 *
 * Cached per network. Falls back to the network itself when nothing folds, or before convlens's
 * gradient hooks are installed (the twin needs them to tell weight gradients from input gradients).
 */
import * as tf from '@tensorflow/tfjs';
import { inputOnlyGradientsInstalled } from '../engine/input-only-grads.ts';
import {
  type ConvChain,
  FoldedConv,
  foldableActivation,
  foldableBatchNorm,
  foldableConv,
} from './folded-conv.ts';
import { type AnyLayer, type LayerNode, nodeOf, type Sym } from './graph-nodes.ts';

/** A layer that runs another layer's `call` (looked up at call time, so patches apply). */
class StandIn extends tf.layers.Layer {
  static className = 'ConvlensStandIn';
  constructor(private readonly inner: AnyLayer) {
    super({ name: inner.name, trainable: false });
    this.built = true;
  }
  override computeOutputShape(shape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return this.inner.computeOutputShape(shape);
  }
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    return this.inner.call(inputs, kwargs);
  }
}

const twins = new WeakMap<tf.LayersModel, tf.LayersModel>();
let folding = true;

/** Turns folding off or on (tests compare both; returns the previous setting). */
export function setFolding(on: boolean): boolean {
  const was = folding;
  folding = on;
  return was;
}

/** The inference twin of a network (itself when nothing folds). */
export function inferenceTwin(net: tf.LayersModel): tf.LayersModel {
  if (!folding || !inputOnlyGradientsInstalled()) return net;
  let twin = twins.get(net);
  if (!twin) {
    try {
      twin = buildTwin(net) ?? net;
    } catch {
      // A graph the stand-ins cannot rebuild (a layer shared between nodes): run it as it is.
      twin = net;
    }
    twins.set(net, twin);
  }
  return twin;
}

const isInput = (t: Sym) => t.sourceLayer.getClassName() === 'InputLayer';

/** The chains that fold, keyed by the id of the tensor each one's last layer outputs. */
export function findChains(net: tf.LayersModel): Map<number, { chain: ConvChain; input: Sym }> {
  // Every node of the network, and how many nodes read each tensor.
  const nodes = new Set<LayerNode>();
  const readers = new Map<number, LayerNode[]>();
  const visit = (t: Sym) => {
    if (isInput(t)) return;
    const node = nodeOf(t);
    if (nodes.has(node)) return;
    nodes.add(node);
    for (const i of node.inputTensors) {
      readers.set(i.id, [...(readers.get(i.id) ?? []), node]);
      visit(i);
    }
  };
  for (const o of net.outputs as Sym[]) visit(o);
  const outputs = new Set((net.outputs as Sym[]).map((o) => o.id));
  // The single layer reading a tensor, when exactly one node reads it and it is not an output.
  const only = (t: Sym): LayerNode | null => {
    const r = readers.get(t.id) ?? [];
    return r.length === 1 && !outputs.has(t.id) && r[0].inputTensors.length === 1 ? r[0] : null;
  };
  const single = (l: AnyLayer) => l.inboundNodes.length === 1;
  const chains = new Map<number, { chain: ConvChain; input: Sym }>();
  for (const node of nodes) {
    const conv = node.outboundLayer;
    const own = foldableConv(conv);
    if (!own || !single(conv) || node.inputTensors.length !== 1) continue;
    let out = node.outputTensors[0];
    const chain: ConvChain = { conv, activation: own };
    if (own !== 'linear') {
      // The conv's own relu: a batch norm after it does not fold into the weights.
      chains.set(out.id, { chain, input: node.inputTensors[0] });
      continue;
    }
    let next = only(out);
    if (next && foldableBatchNorm(next.outboundLayer) && single(next.outboundLayer)) {
      chain.bn = next.outboundLayer;
      out = next.outputTensors[0];
      next = only(out);
    }
    const act = next && single(next.outboundLayer) ? foldableActivation(next.outboundLayer) : null;
    if (next && act) {
      chain.act = next.outboundLayer;
      chain.activation = act;
      out = next.outputTensors[0];
    }
    chains.set(out.id, { chain, input: node.inputTensors[0] });
  }
  return chains;
}

function buildTwin(net: tf.LayersModel): tf.LayersModel | null {
  const chains = findChains(net);
  if (chains.size === 0) return null;
  const made = new Map<number, tf.SymbolicTensor>();
  const standIns = new Map<LayerNode, tf.SymbolicTensor[]>();
  const inputs = (net.inputs as Sym[]).map((t) => {
    const i = tf.input({ batchShape: t.shape, dtype: t.dtype });
    made.set(t.id, i);
    return i;
  });
  // Depth-first from the outputs; a chain's last tensor comes from its folded layer on the conv's input.
  const build = (t: Sym): tf.SymbolicTensor => {
    const done = made.get(t.id);
    if (done) return done;
    const folded = chains.get(t.id);
    let out: tf.SymbolicTensor;
    if (folded) {
      out = new FoldedConv(folded.chain).apply(build(folded.input)) as tf.SymbolicTensor;
    } else {
      const node = nodeOf(t);
      let outs = standIns.get(node);
      if (!outs) {
        const ins = node.inputTensors.map(build);
        const r = new StandIn(node.outboundLayer).apply(ins.length === 1 ? ins[0] : ins);
        outs = Array.isArray(r) ? (r as tf.SymbolicTensor[]) : [r as tf.SymbolicTensor];
        standIns.set(node, outs);
      }
      out = outs[t.tensorIndex];
    }
    made.set(t.id, out);
    return out;
  };
  const outputs = (net.outputs as Sym[]).map(build);
  return tf.model({
    inputs,
    outputs: outputs.length === 1 ? outputs[0] : outputs,
    name: `${net.name}_folded`,
  });
}
