/** SmoothGrad² (Captum's noise tunnel 'smoothgrad_sq'): the mean squared gradient over SmoothGrad's noisy copies. */
import * as tf from '@tensorflow/tfjs';
import { finish, resolveTargets } from './common.ts';
import { type NoiseTunnelOptions, noiseTunnelMoments } from './noise-tunnel.ts';
import type { ExplainMethod, ExplainRequest } from './types.ts';

export const smoothgradSq: ExplainMethod<NoiseTunnelOptions> = {
  id: 'smoothgrad-sq',
  title: 'SmoothGrad²',
  description:
    'Mean squared gradient over noisy copies of the input, summed over channels: like SmoothGrad, with strong, consistent gradients standing out more against the jitter.',
  needsLayer: false,
  async explain(req: ExplainRequest<NoiseTunnelOptions>) {
    const targets = resolveTargets(req.model, req);
    const m = noiseTunnelMoments(req.model, req.input, targets, req.options);
    const maps = tf.tidy(() => tf.sum(m.meanSquare, 3) as tf.Tensor3D);
    try {
      return await finish('smoothgrad-sq', maps, targets, false, {
        meta: { samples: m.samples, noise: m.noise, sigma: m.sigma },
      });
    } finally {
      tf.dispose([m.mean, m.meanSquare, maps]);
    }
  },
};
