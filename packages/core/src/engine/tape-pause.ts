/**
 * Pausing tfjs's gradient tape for the part of a forward pass no gradient flows through. A layer
 * gradient (Grad-CAM and the other CAMs, conductance) differentiates with respect to a tensor added
 * at one layer's output: everything computed before that layer is off the path, yet tfjs records it
 * all (kernels save their inputs, every op gets a tape node), which more than doubled a batch-1
 * MobileNet Grad-CAM. Only the outermost gradient is paused: inside an enclosing gradient the
 * prefix may be on that one's path.
 */
import * as tf from '@tensorflow/tfjs';

interface EngineState {
  gradientDepth: number;
}

/** Stops recording until the returned resume() (idempotent) is called; a no-op when not safe. */
export function pauseTape(): () => void {
  const state = (tf.engine() as unknown as { state?: EngineState }).state;
  if (state?.gradientDepth !== 1) return () => {};
  state.gradientDepth = 0;
  let paused = true;
  return () => {
    if (!paused) return;
    paused = false;
    state.gradientDepth = 1;
  };
}
