import type { ExplainMethod } from './types.ts';

/** The perturbation-based methods: occlusion, LIME, KernelSHAP (owned by that part of issue 7). */
export const PERTURBATION_METHODS: ExplainMethod[] = [];
