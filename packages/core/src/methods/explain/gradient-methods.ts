import { cam } from './cam.ts';
import { CAM_METHODS } from './cam-core.ts';
import { deconvnet } from './deconvnet.ts';
import { guidedBackprop, guidedGradcam } from './guided.ts';
import { INPUT_GRADIENT_METHODS } from './input-gradients.ts';
import type { ExplainMethod } from './types.ts';

/** The gradient- and CAM-based methods; CAM first, as the lab presents it (it needs a GAP head). */
export const GRADIENT_METHODS: ExplainMethod<any>[] = [
  cam,
  ...CAM_METHODS,
  guidedBackprop,
  guidedGradcam,
  deconvnet,
  ...INPUT_GRADIENT_METHODS,
];
