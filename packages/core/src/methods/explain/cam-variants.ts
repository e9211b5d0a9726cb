import { ablationCam } from './ablation-cam.ts';
import { eigengradCam } from './eigengrad-cam.ts';
import { fem } from './fem.ts';
import { finerCam } from './finer-cam.ts';
import { fullgrad } from './fullgrad.ts';
import { gradcamElementwise } from './gradcam-elementwise.ts';
import type { ExplainMethod } from './types.ts';

/** The CAM variants over the CAM base beyond the gradient rules of cam-core.ts, each in its own file. */
export const CAM_VARIANTS: ExplainMethod<any>[] = [
  gradcamElementwise,
  eigengradCam,
  finerCam,
  ablationCam,
  fem,
  fullgrad,
];
