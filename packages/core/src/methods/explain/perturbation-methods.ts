import { kernelShap } from './kernel-shap.ts';
import { lime } from './lime.ts';
import { occlusion } from './occlusion.ts';
import { scoreCam } from './score-cam.ts';
import type { ExplainMethod } from './types.ts';

/** The perturbation-based methods: the output on altered copies of the input, no gradients. */
export const PERTURBATION_METHODS: ExplainMethod<any>[] = [occlusion, lime, kernelShap, scoreCam];
