/**
 * Conductance (Dhamdhere et al. 2018, Captum's LayerConductance and NeuronConductance): integrated
 * gradients routed through a hidden layer. Along the straight path from a baseline x' to the input x,
 * - layer conductance of unit p: Σ_k ∂F/∂y_p(α_k) · (y_p(α_{k+1}) − y_p(α_k)) (trapezoid: both ends' gradients) — how much of
 *   F(x) − F(x') flows through p (the units' sum is F(x) − F(x'), up to the Riemann error: the delta);
 * - neuron conductance of pixel i through units M: (x_i − x'_i) · mean_k Σ_{p∈M} ∂F/∂y_p · ∂y_p/∂x_i —
 *   the pixels whose influence on the class passes through that neuron or channel.
 */
import * as tf from '@tensorflow/tfjs';
import { finish, pickLayer, resolveTargets, scores, upsample } from './common.ts';
import { layerGradients } from './layer-gradients.ts';
import type { ExplainMethod, ExplainRequest, Explanation } from './types.ts';

export interface ConductanceOptions {
  /** Riemann steps along the path (default 32). */
  steps?: number;
}

const stepsOf = (o?: ConductanceOptions) => {
  const steps = o?.steps ?? 32;
  if (!(Number.isInteger(steps) && steps >= 1))
    throw new Error(`steps must be a positive integer, got ${steps}`);
  return steps;
};

/** Per-unit layer conductance [N, …layer shape] with a zero baseline, and each example's completeness delta. */
export function layerConductance(
  model: tf.LayersModel,
  layer: tf.layers.Layer,
  x: tf.Tensor4D,
  targets: number[],
  steps = 32,
): { conductance: tf.Tensor; total: number[]; scoreDifference: number[] } {
  const at = (a: number) => tf.tidy(() => tf.mul(x, a) as tf.Tensor4D);
  const origin = at(0);
  let prev = layerGradients(model, layer, origin, targets);
  origin.dispose();
  let acc: tf.Tensor = tf.zerosLike(prev.acts);
  try {
    for (let k = 1; k <= steps; k++) {
      const point = at(k / steps);
      const cur = layerGradients(model, layer, point, targets);
      point.dispose();
      // Trapezoid: the mean of both ends' gradients (Captum takes the left one; this converges as 1/m²).
      const next = tf.tidy(() =>
        tf.add(acc, tf.mul(tf.mul(tf.add(prev.grads, cur.grads), 0.5), tf.sub(cur.acts, prev.acts))),
      );
      acc.dispose();
      tf.dispose([prev.acts, prev.grads]);
      acc = next;
      prev = cur;
    }
  } catch (err) {
    acc.dispose();
    throw err;
  } finally {
    tf.dispose([prev.acts, prev.grads]);
  }
  const n = x.shape[0];
  const [total, diff] = tf.tidy(() => {
    const pick = (inp: tf.Tensor) => {
      const s = scores(model, inp);
      return tf.sum(tf.mul(s, tf.oneHot(tf.tensor1d(targets, 'int32'), s.shape[1])), 1);
    };
    return [
      Array.from(tf.sum(tf.reshape(acc, [n, -1]), 1).dataSync()),
      Array.from(tf.sub(pick(x), pick(tf.zerosLike(x))).dataSync()),
    ];
  });
  return { conductance: acc, total, scoreDifference: diff };
}

/** Which units of a layer a neuron conductance goes through: one channel (all positions) or one position of it. */
export interface NeuronSpec {
  layer: string;
  /** Channel (conv layers) or unit (dense layers). */
  index: number;
  /** [row, column] for one position of a conv channel; all positions when absent. */
  position?: [number, number];
}

/**
 * Neuron conductance maps [N, H, W, C] at input resolution (zero baseline): the attribution to each input
 * value of the target score's part that passes through the neuron (Captum's NeuronConductance).
 */
export function neuronConductance(
  model: tf.LayersModel,
  x: tf.Tensor4D,
  targets: number[],
  neuron: NeuronSpec,
  steps = 32,
): tf.Tensor4D {
  const { layer } = pickLayerAny(model, neuron.layer);
  const shape = (layer.outputShape as number[]).slice(1);
  const channels = shape[shape.length - 1];
  if (!(Number.isInteger(neuron.index) && neuron.index >= 0 && neuron.index < channels))
    throw new Error(`neuron ${neuron.index} out of range: layer '${layer.name}' has ${channels} channels`);
  const mask = tf.tidy(() => {
    const m = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (neuron.position) {
      if (shape.length !== 3)
        throw new Error(`layer '${layer.name}' is not spatial: a position does not apply`);
      const [r, c] = neuron.position;
      if (!(r >= 0 && r < shape[0] && c >= 0 && c < shape[1]))
        throw new Error(`position (${r},${c}) is outside layer '${layer.name}' (${shape[0]}×${shape[1]})`);
      m[(r * shape[1] + c) * channels + neuron.index] = 1;
    } else for (let i = neuron.index; i < m.length; i += channels) m[i] = 1;
    return tf.tensor(m, [1, ...shape]);
  });
  let acc = tf.zerosLike(x) as tf.Tensor4D;
  const original = layer.call;
  try {
    for (let k = 0; k < steps; k++) {
      const point = tf.tidy(() => tf.mul(x, (k + 0.5) / steps) as tf.Tensor4D);
      const { acts, grads } = layerGradients(model, layer, point, targets);
      acts.dispose();
      const weight = tf.mul(grads, mask); // ∂F/∂y on the neuron's units, held fixed
      grads.dispose();
      let through: tf.Scalar | null = null;
      const g = tf.tidy(() =>
        tf.grad((inp: tf.Tensor) => {
          layer.call = function (this: tf.layers.Layer, inputs, kwargs) {
            const out = original.call(this, inputs, kwargs) as tf.Tensor;
            // Kept: the layers executor's scope would free it before the gradient reads it.
            through = tf.keep(tf.sum(tf.mul(out, weight))) as tf.Scalar;
            return out;
          };
          scores(model, inp); // the forward pass that reaches the layer
          if (!through) throw new Error(`layer '${layer.name}' was not reached by the forward pass`);
          return through as tf.Scalar;
        })(point),
      );
      (through as tf.Scalar | null)?.dispose();
      layer.call = original;
      weight.dispose();
      point.dispose();
      const next = tf.add(acc, g) as tf.Tensor4D;
      tf.dispose([acc, g]);
      acc = next;
    }
    return tf.tidy(() => tf.mul(x, tf.div(acc, steps)) as tf.Tensor4D);
  } finally {
    layer.call = original;
    acc.dispose();
    mask.dispose();
  }
}

/** A layer by name (any rank: dense layers have neurons too). */
function pickLayerAny(model: tf.LayersModel, name: string): { layer: tf.layers.Layer } {
  try {
    return pickLayer(model, name);
  } catch (err) {
    const layer = model.layers.find((l) => l.name === name);
    if (layer) return { layer };
    throw err;
  }
}

export const layerConductanceMethod: ExplainMethod<ConductanceOptions> = {
  id: 'layer-conductance',
  title: 'Layer conductance',
  description:
    'Integrated gradients through a hidden layer: each unit’s share of the class score’s change from a black input, summed over channels and drawn at input resolution (signed; the shares add up to the change, the delta says how closely).',
  needsLayer: true,
  async explain(req: ExplainRequest<ConductanceOptions>): Promise<Explanation> {
    const targets = resolveTargets(req.model, req);
    const steps = stepsOf(req.options);
    const { layer, warning } = pickLayer(req.model, req.layer);
    const [, H, W] = req.input.shape;
    const r = layerConductance(req.model, layer, req.input, targets, steps);
    const maps = tf.tidy(() => upsample(tf.sum(r.conductance, 3) as tf.Tensor3D, H, W));
    r.conductance.dispose();
    try {
      return await finish('layer-conductance', maps, targets, true, {
        layer: layer.name,
        warnings: targets.map(() => (warning ? [warning] : [])),
        meta: {
          layer: layer.name,
          steps,
          baseline: 'zeros',
          conductanceSum: r.total,
          scoreDifference: r.scoreDifference,
          convergenceDelta: r.total.map((t, i) => t - r.scoreDifference[i]),
        },
      });
    } finally {
      maps.dispose();
    }
  },
};
