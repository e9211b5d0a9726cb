/**
 * Grad-CAM element-wise (pytorch-grad-cam's GradCAMElementWise): ReLU of each G·A product before the
 * channel sum, instead of Grad-CAM's mean gradient per channel — negative local evidence cannot
 * cancel positive evidence elsewhere in the channel.
 */
import * as tf from '@tensorflow/tfjs';
import { camMethod } from './cam-base.ts';
import { gradientCam } from './cam-core.ts';

export const gradcamElementwise = camMethod(
  gradientCam(
    'gradcam-elementwise',
    'Grad-CAM element-wise',
    'Sums the positive parts of gradient × activation over channels: like HiResCAM, but local negative evidence is dropped before summing.',
    (a, g) => tf.relu(tf.mul(g, a)) as tf.Tensor4D,
  ),
);
