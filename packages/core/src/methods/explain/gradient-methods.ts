import { CAM_METHODS } from './cam-core.ts';
import { deconvnet } from './deconvnet.ts';
import { guidedBackprop, guidedGradcam } from './guided.ts';
import { INPUT_GRADIENT_METHODS } from './input-gradients.ts';
import type { ExplainMethod } from './types.ts';

/** The gradient- and CAM-based methods. */
export const GRADIENT_METHODS: ExplainMethod<any>[] = [
  ...CAM_METHODS,
  guidedBackprop,
  guidedGradcam,
  deconvnet,
  ...INPUT_GRADIENT_METHODS,
];
