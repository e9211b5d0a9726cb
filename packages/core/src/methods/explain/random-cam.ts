/**
 * RandomCAM (pytorch-grad-cam's control): the layer's channels weighted by seeded uniform random
 * numbers in [−1, 1]. A control, not an explanation: a CAM that does not beat it on a faithfulness
 * measure shows nothing the layer's own activation pattern does not.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng } from '../../data/rng.ts';
import { camMethod } from './cam-base.ts';
import { layerActivations } from './layer-forward.ts';

export interface RandomCamOptions {
  /** Seed of the channel weights (default 0): the same seed gives the same weights. */
  seed?: number;
}

export const randomCam = camMethod<RandomCamOptions>({
  id: 'randomcam',
  title: 'RandomCAM (control)',
  description:
    'Control: the layer’s channels weighted by random numbers in [−1, 1] (seeded). Any CAM worth reading should beat it.',
  control: true,
  check(o) {
    if (o.seed !== undefined && !Number.isFinite(o.seed))
      throw new Error(`seed must be a number, got ${o.seed}`);
  },
  compute({ model, input, layer, options }) {
    const acts = layerActivations(model, layer as tf.layers.Layer, input);
    try {
      const [n, , , c] = acts.shape;
      const rng = createRng(options.seed ?? 0);
      const w = Float32Array.from({ length: n * c }, () => 2 * rng() - 1);
      return {
        weighted: tf.tidy(() => tf.mul(acts, tf.tensor4d(w, [n, 1, 1, c])) as tf.Tensor4D),
        meta: { seed: options.seed ?? 0 },
      };
    } finally {
      acts.dispose();
    }
  },
});
