/** VarGrad (Adebayo et al. 2018; Captum's noise tunnel 'vargrad'): the variance of the gradient over SmoothGrad's noisy copies. */
import * as tf from '@tensorflow/tfjs';
import { finish, resolveTargets } from './common.ts';
import { type NoiseTunnelOptions, noiseTunnelMoments } from './noise-tunnel.ts';
import type { ExplainMethod, ExplainRequest } from './types.ts';

export const vargrad: ExplainMethod<NoiseTunnelOptions> = {
  id: 'vargrad',
  title: 'VarGrad',
  description:
    'Variance of the gradient over noisy copies of the input, summed over channels: where the model’s sensitivity itself changes under small perturbations.',
  needsLayer: false,
  async explain(req: ExplainRequest<NoiseTunnelOptions>) {
    const targets = resolveTargets(req.model, req);
    const m = noiseTunnelMoments(req.model, req.input, targets, req.options);
    // E[g²] − E[g]², clipped at 0 against rounding.
    const maps = tf.tidy(() => tf.sum(tf.relu(tf.sub(m.meanSquare, tf.square(m.mean))), 3) as tf.Tensor3D);
    try {
      return await finish('vargrad', maps, targets, false, {
        meta: { samples: m.samples, noise: m.noise, sigma: m.sigma },
      });
    } finally {
      tf.dispose([m.mean, m.meanSquare, maps]);
    }
  },
};
