import * as tf from '@tensorflow/tfjs';
import { LOGITS_LAYER } from './build.ts';

/** What a model's class scores are: pre-softmax `logits`, or only the softmax `probs` (imported models). */
export interface ScoreHead {
  /** Model from the input to the scores; shares layers (and weights) with the original. */
  net: tf.LayersModel;
  kind: 'logits' | 'probs';
}

const heads = new WeakMap<tf.LayersModel, ScoreHead>();

/**
 * The model cut at the `logits` layer (shares weights with `model`), cached per model. Throws when
 * the model has no layer named `logits`.
 */
export function logitsModel(model: tf.LayersModel): tf.LayersModel {
  const head = scoreHead(model);
  if (head.kind !== 'logits') {
    throw new Error(`model '${model.name}' has no '${LOGITS_LAYER}' layer (pre-softmax scores unavailable)`);
  }
  return head.net;
}

/**
 * Where to read class scores: the `logits` layer when the model has one (convlens models always do),
 * otherwise the model's own output, taken to be softmax probabilities.
 */
export function scoreHead(model: tf.LayersModel): ScoreHead {
  let head = heads.get(model);
  if (head) return head;
  const layer = model.layers.find((l) => l.name === LOGITS_LAYER);
  if (!layer) head = { net: model, kind: 'probs' };
  else if (model.outputs.length === 1 && model.outputs[0] === layer.output)
    head = { net: model, kind: 'logits' };
  else {
    const outputs = layer.output as tf.SymbolicTensor;
    head = { net: tf.model({ inputs: model.inputs, outputs, name: `${model.name}_logits` }), kind: 'logits' };
  }
  heads.set(model, head);
  return head;
}
