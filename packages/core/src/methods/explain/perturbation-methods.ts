import { occlusion } from './occlusion.ts';
import type { ExplainMethod } from './types.ts';

/** The perturbation-based methods. */
export const PERTURBATION_METHODS: ExplainMethod<any>[] = [occlusion];
