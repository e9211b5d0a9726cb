/**
 * A Reexplain from a registered explanation method: what robustness, randomisation and input
 * invariance call to explain perturbed inputs, other targets or a randomized copy of the model with the
 * same method, layer and options as the maps under test.
 */

import type * as tf from '@tensorflow/tfjs';
import type { ExplainMethod } from '../methods/explain/types.ts';
import type { Reexplain } from './types.ts';

export function explainerOf(
  method: ExplainMethod<any>,
  model: tf.LayersModel,
  opts: { layer?: string; options?: Record<string, unknown> } = {},
): Reexplain {
  return async (req) => {
    const e = await method.explain({
      model: req.model ?? model,
      input: req.input,
      target: req.targets,
      layer: method.needsLayer ? opts.layer : undefined,
      options: opts.options,
    });
    return e.maps;
  };
}
