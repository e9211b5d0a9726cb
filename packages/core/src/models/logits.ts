import * as tf from '@tensorflow/tfjs';
import { LOGITS_LAYER } from './build.ts';

/** What a model's class scores are: pre-softmax `logits`, or only the softmax `probs`. */
export interface ScoreHead {
  /** Model from the input to the scores; shares layers (and weights) with the original. */
  net: tf.LayersModel;
  kind: 'logits' | 'probs';
  /** Where the logits were found, for messages: a layer name, or 'output' for the model's own output. */
  from: string;
}

const heads = new WeakMap<tf.LayersModel, ScoreHead>();

/**
 * The model cut at its logits (shares weights with `model`), cached per model. Throws when the model's
 * pre-softmax scores cannot be found.
 */
export function logitsModel(model: tf.LayersModel): tf.LayersModel {
  const head = scoreHead(model);
  if (head.kind !== 'logits') {
    throw new Error(
      `model '${model.name}' has no '${LOGITS_LAYER}' layer and does not end in a softmax (pre-softmax scores unavailable)`,
    );
  }
  return head.net;
}

type AnyLayer = tf.layers.Layer & { activation?: { getClassName(): string }; inboundNodes?: unknown[] };

const isSoftmax = (l: AnyLayer | undefined) => l?.activation?.getClassName?.().toLowerCase() === 'softmax';

/**
 * Where to read class scores, so gradients, class maximization and Grad-CAM use logits as keras-vis does:
 * 1. a layer named `logits` (convlens's own models);
 * 2. a final softmax Activation layer: its input (Keras MobileNet: conv_preds → reshape → act_softmax);
 * 3. a final layer with a softmax activation (Keras's Dense(…, activation='softmax')): the same layer with
 *    its activation bypassed, sharing its weights;
 * 4. a model whose userDefinedMetadata has `scores: 'logits'` (converted ONNX classifiers): its output;
 * otherwise the model's own output, taken to be probabilities.
 */
export function scoreHead(model: tf.LayersModel): ScoreHead {
  let head = heads.get(model);
  if (head) return head;
  head = findHead(model);
  heads.set(model, head);
  return head;
}

function findHead(model: tf.LayersModel): ScoreHead {
  const named = model.layers.find((l) => l.name === LOGITS_LAYER);
  if (named) return cut(model, named.output as tf.SymbolicTensor, LOGITS_LAYER);
  const probs: ScoreHead = { net: model, kind: 'probs', from: 'output' };
  // A model whose metadata says its output is pre-softmax (a PyTorch classifier converted from ONNX).
  const meta = (
    model as { getUserDefinedMetadata?: () => { scores?: unknown } | undefined }
  ).getUserDefinedMetadata?.();
  if (meta?.scores === 'logits' && model.outputs.length === 1)
    return { net: model, kind: 'logits', from: model.outputs[0].sourceLayer.name };
  if (model.outputs.length !== 1) return probs;
  // Walk back over shape-only layers after the softmax (MobileNet's reshape_2), to re-apply them to the logits.
  const trailing: AnyLayer[] = [];
  let last = model.outputs[0].sourceLayer as AnyLayer;
  while (SHAPE_ONLY.has(last.getClassName()) && last.inboundNodes?.length === 1) {
    trailing.unshift(last);
    last = (last.input as tf.SymbolicTensor).sourceLayer as AnyLayer;
  }
  if (!isSoftmax(last) || last.inboundNodes?.length !== 1) return probs;
  let logits: tf.SymbolicTensor;
  if (last.getClassName() === 'Activation') logits = last.input as tf.SymbolicTensor;
  // A layer with a fused softmax: apply a pre-activation view of it to the same input.
  else logits = new PreActivation(last).apply(last.input as tf.SymbolicTensor) as tf.SymbolicTensor;
  for (const l of trailing) logits = l.apply(logits) as tf.SymbolicTensor;
  return cut(
    model,
    logits,
    last.getClassName() === 'Activation' ? (last.input as tf.SymbolicTensor).sourceLayer.name : last.name,
  );
}

const SHAPE_ONLY = new Set(['Reshape', 'Flatten']);

function cut(model: tf.LayersModel, output: tf.SymbolicTensor, from: string): ScoreHead {
  if (model.outputs.length === 1 && model.outputs[0] === output) return { net: model, kind: 'logits', from };
  return {
    net: tf.model({ inputs: model.inputs, outputs: output, name: `${model.name}_logits` }),
    kind: 'logits',
    from,
  };
}

/**
 * A layer computing another layer's output before its activation, with that layer's own variables (so
 * training through it trains the original). Not serializable: it exists only inside score heads.
 */
class PreActivation extends tf.layers.Layer {
  static className = 'ConvlensPreActivation';
  private readonly linear = tf.layers.activation({ activation: 'linear' }) as unknown as {
    activation: unknown;
  };
  constructor(private readonly inner: AnyLayer) {
    super({ name: `${inner.name}_pre_activation`, trainable: inner.trainable });
    this.built = true;
    this.trainableWeights = inner.trainableWeights;
    this.nonTrainableWeights = inner.nonTrainableWeights;
  }
  override computeOutputShape(shape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return this.inner.computeOutputShape(shape);
  }
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const layer = this.inner as unknown as { activation: unknown };
    const saved = layer.activation;
    layer.activation = this.linear.activation;
    try {
      return this.inner.call(inputs, kwargs);
    } finally {
      layer.activation = saved;
    }
  }
}
