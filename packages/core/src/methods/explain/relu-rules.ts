/**
 * Methods that change how gradients pass ReLUs (guided backprop, DeconvNet) swap every ReLU of a
 * model — fused `activation: 'relu'|'relu6'` of conv and dense layers, and ReLU layers — for one
 * whose gradient is their rule, while they take the gradient, then put the originals back.
 */
import * as tf from '@tensorflow/tfjs';

/** The gradient a swapped ReLU passes down, from the incoming gradient and the forward input. */
export type ReluGradientRule = (dy: tf.Tensor, input: tf.Tensor, cap?: number) => tf.Tensor;

/** ReLU (optionally capped at `cap`) whose gradient is `rule`. */
function ruledRelu(rule: ReluGradientRule, cap?: number) {
  const f = (x: tf.Tensor, save: tf.GradSaveFunc) => {
    save([x]);
    return {
      value: cap === undefined ? tf.relu(x) : tf.clipByValue(x, 0, cap),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => rule(dy, saved[0], cap),
    };
  };
  return tf.customGrad(f as any) as (x: tf.Tensor) => tf.Tensor;
}

/** Runs `fn` with every ReLU of `model` passing gradients by `rule`; `tag` names the swap. */
export function withReluRule<T>(model: tf.LayersModel, rule: ReluGradientRule, tag: string, fn: () => T): T {
  const restore: (() => void)[] = [];
  for (const layer of model.layers as any[]) {
    const act = layer.activation;
    const name = act?.getClassName?.();
    if (name === 'relu' || name === 'relu6') {
      const g = ruledRelu(rule, name === 'relu6' ? 6 : undefined);
      // A class name tfjs can't fuse into the conv/matmul kernel, so apply() runs.
      layer.activation = { apply: (x: tf.Tensor) => g(x), getClassName: () => `${tag}-${name}` };
      restore.push(() => {
        layer.activation = act;
      });
    } else if (layer.getClassName() === 'ReLU') {
      const call = layer.call;
      const g = ruledRelu(rule, layer.maxValue ?? undefined);
      layer.call = (inputs: tf.Tensor | tf.Tensor[]) => g(Array.isArray(inputs) ? inputs[0] : inputs);
      restore.push(() => {
        layer.call = call;
      });
    }
  }
  try {
    return fn();
  } finally {
    for (const r of restore) r();
  }
}
