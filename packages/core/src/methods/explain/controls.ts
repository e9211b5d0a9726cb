import { randomCam } from './random-cam.ts';
import { sobel } from './sobel.ts';
import type { ExplainMethod } from './types.ts';

/** The controls: always registered, marked `control`, the baselines every method must beat. */
export const CONTROL_METHODS: ExplainMethod<any>[] = [randomCam, sobel];
