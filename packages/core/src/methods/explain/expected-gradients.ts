/**
 * Expected gradients (Erion et al. 2021): integrated gradients averaged over a reference
 * distribution, estimated by sampling one reference and one point on its path per sample —
 * GradientSHAP's estimator without input noise.
 */
import { expectedGradientsExplain, type GradientShapOptions } from './gradient-shap.ts';
import type { ExplainMethod } from './types.ts';

export const expectedGradients: ExplainMethod<GradientShapOptions> = {
  id: 'expected-gradients',
  title: 'Expected gradients',
  description:
    'Integrated gradients averaged over many references (one random reference and path point per sample): signed attributions summing, in expectation, to f(x) − E[f(reference)].',
  needsLayer: false,
  explain: (req) => expectedGradientsExplain('expected-gradients', req, { small: 25, large: 10, noise: 0 }),
};
