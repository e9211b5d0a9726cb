/**
 * The parts of tfjs-layers' graph that it does not type publicly: a layer's inbound nodes and the
 * symbolic tensors that link them. The graph rewriters (inference-twin.ts, flatten-nested.ts) walk it.
 */
import type * as tf from '@tensorflow/tfjs';

export type AnyLayer = tf.layers.Layer & Record<string, any>;
/** A symbolic tensor with the layer, node and output index that produced it. */
export type Sym = tf.SymbolicTensor & { sourceLayer: AnyLayer; nodeIndex: number; tensorIndex: number };
/** One call of a layer: what it read, what it wrote, and the keyword arguments it was called with. */
export interface LayerNode {
  inputTensors: Sym[];
  outputTensors: Sym[];
  outboundLayer: AnyLayer;
  callArgs?: Record<string, unknown>;
}

/** The node that produced a symbolic tensor. */
export const nodeOf = (t: Sym): LayerNode => t.sourceLayer.inboundNodes[t.nodeIndex] as LayerNode;
