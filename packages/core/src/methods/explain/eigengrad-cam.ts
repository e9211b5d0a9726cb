/**
 * EigenGrad-CAM (pytorch-grad-cam): the first principal component of the class-weighted activations
 * G·A — Eigen-CAM's smoothing, but of the gradient-weighted features, so the map is class-specific.
 */
import * as tf from '@tensorflow/tfjs';
import { camMethod } from './cam-base.ts';
import { gradientCam } from './cam-core.ts';

const base = gradientCam(
  'eigengradcam',
  'EigenGrad-CAM',
  'First principal component of gradient × activation at a conv layer: a class-specific, denoised Eigen-CAM.',
  (a, g) => tf.mul(g, a),
);

export const eigengradCam = camMethod({
  ...base,
  async compute(step) {
    return { ...(await base.compute(step)), project: true };
  },
});
