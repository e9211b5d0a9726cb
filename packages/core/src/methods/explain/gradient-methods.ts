import type { ExplainMethod } from './types.ts';

/** The gradient- and CAM-based methods (owned by the gradient-methods work of issue 7). */
export const GRADIENT_METHODS: ExplainMethod[] = [];
