/**
 * Plumbing for the methods that backpropagate by their own rules (DeepLIFT, LRP): the layers of a
 * model's score network, a temporary swap of a layer's `call` or fused activation for the duration of
 * one synchronous computation, and gradient surgery (stop-gradient; a value whose gradient is that of
 * another expression), so a rule is written as a forward expression and autodiff does the transposes.
 */
import * as tf from '@tensorflow/tfjs';
import { scoreHead } from '../../models/logits.ts';

/** A layer with tfjs's untyped fields (weights, settings) readable. */
export type AnyLayer = tf.layers.Layer & Record<string, any>;

/** A layer's activation object as tfjs-layers calls it. */
export interface ActivationLike {
  apply(x: tf.Tensor): tf.Tensor;
  getClassName(): string;
}

/** A temporary replacement of one layer's `call`, or of its fused activation. */
export interface LayerPatch {
  layer: AnyLayer;
  call?: (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];
  activation?: ActivationLike;
}

/** The layers the class scores are computed with (the model cut at its logits; includes a pre-activation view). */
export function scoreLayers(model: tf.LayersModel): AnyLayer[] {
  return scoreHead(model).net.layers as AnyLayer[];
}

/** The activation's name ('relu', 'relu6', 'linear', …), or undefined for a layer without one. */
export function activationName(layer: AnyLayer): string | undefined {
  return layer.activation?.getClassName?.();
}

/** Runs `fn` with the patches in place, then restores every layer as it was (also on a throw). */
export function withPatches<T>(patches: LayerPatch[], fn: () => T): T {
  const restore: (() => void)[] = [];
  try {
    for (const p of patches) {
      if (p.call) {
        const had = Object.hasOwn(p.layer, 'call');
        const call = p.layer.call;
        p.layer.call = p.call;
        restore.push(() => {
          if (had) p.layer.call = call;
          else delete (p.layer as { call?: unknown }).call;
        });
      }
      if (p.activation) {
        const act = p.layer.activation;
        p.layer.activation = p.activation;
        restore.push(() => {
          p.layer.activation = act;
        });
      }
    }
    return fn();
  } finally {
    for (const r of restore.reverse()) r();
  }
}

/** An activation object computing `f` whose class name tfjs cannot fuse into a conv/matmul kernel. */
export function activationOf(tag: string, f: (x: tf.Tensor) => tf.Tensor): ActivationLike {
  return { apply: f, getClassName: () => tag };
}

/** The identity whose gradient is zero. */
export const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: x.clone(),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as any) as (x: tf.Tensor) => tf.Tensor;

/**
 * f(xs) computed off the gradient tape: autodiff sees one op whose gradient is zero, so f may use ops
 * that have no gradient (comparisons, where).
 */
export function frozen(f: (...xs: tf.Tensor[]) => tf.Tensor, ...xs: tf.Tensor[]): tf.Tensor {
  const g = tf.customGrad((...args: unknown[]) => {
    const inputs = args.slice(0, xs.length) as tf.Tensor[];
    return { value: f(...inputs), gradFunc: () => inputs.map((t) => tf.zerosLike(t)) };
  }) as (...t: tf.Tensor[]) => tf.Tensor;
  return g(...xs);
}

/** `value` in the forward pass, with the gradient `surrogate` has: surrogate + stop(value − surrogate). */
export function withGradientOf(value: tf.Tensor, surrogate: tf.Tensor): tf.Tensor {
  return tf.add(surrogate, stopGradient(tf.sub(value, surrogate)));
}

/** The first input of a layer call. */
export const firstInput = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor =>
  Array.isArray(inputs) ? inputs[0] : inputs;
