import { deeplift } from './deeplift.ts';
import { deepliftShap } from './deeplift-shap.ts';
import { expectedGradients } from './expected-gradients.ts';
import { featureAblation } from './feature-ablation.ts';
import { gradientShap } from './gradient-shap.ts';
import { lrp } from './lrp.ts';
import { rise } from './rise.ts';
import { shapleySampling } from './shapley-sampling.ts';
import { smoothgradSq } from './smoothgrad-sq.ts';
import type { ExplainMethod } from './types.ts';
import { vargrad } from './vargrad.ts';

/**
 * Issue 19's gradient-family and perturbation attributions (Captum's set): DeepLIFT and its SHAP
 * average, GradientSHAP, expected gradients, LRP, the noise-tunnel variants of SmoothGrad, feature
 * ablation, Shapley value sampling and RISE. Each has default budgets sized for `--method all`.
 */
export const MORE_ATTRIBUTION_METHODS: ExplainMethod<any>[] = [
  smoothgradSq,
  vargrad,
  gradientShap,
  expectedGradients,
  deeplift,
  deepliftShap,
  lrp,
  featureAblation,
  shapleySampling,
  rise,
];
