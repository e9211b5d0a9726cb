/**
 * The Sobel edge map (pytorch-grad-cam's sobel_cam): a control that never looks at the model. The
 * input's grey level (ITU-R 601 weights for RGB, the mean otherwise) filtered with 3×3 Sobel kernels,
 * borders reflected as OpenCV's default does, ½|Gx| + ½|Gy|. An attribution that does not beat it on
 * a faithfulness measure may only be finding edges.
 */
import * as tf from '@tensorflow/tfjs';
import { finish, resolveTargets } from './common.ts';
import type { ExplainMethod } from './types.ts';

const GX = [
  [-1, 0, 1],
  [-2, 0, 2],
  [-1, 0, 1],
];

/** ½|Gx| + ½|Gy| of [N, H, W, C] inputs: [N, H, W]. */
export function sobelMaps(x: tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => {
    const c = x.shape[3];
    const grey =
      c === 3 ? tf.sum(tf.mul(x, tf.tensor1d([0.299, 0.587, 0.114])), 3, true) : tf.mean(x, 3, true);
    // tf's 'reflect' mirrors without repeating the edge: OpenCV's BORDER_REFLECT_101.
    const padded = tf.mirrorPad(
      grey as tf.Tensor4D,
      [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ],
      'reflect',
    );
    const kx = tf.tensor4d(GX.flat(), [3, 3, 1, 1]);
    const ky = tf.tensor4d(
      GX[0].flatMap((_, j) => GX.map((r) => r[j])),
      [3, 3, 1, 1],
    );
    const gx = tf.conv2d(padded, kx, 1, 'valid');
    const gy = tf.conv2d(padded, ky, 1, 'valid');
    return tf.squeeze(tf.mul(0.5, tf.add(tf.abs(gx), tf.abs(gy))), [3]) as tf.Tensor3D;
  });
}

export const sobel: ExplainMethod = {
  id: 'sobel',
  title: 'Sobel edges (control)',
  description:
    'Control: the input’s edge strength (3×3 Sobel), computed without the model. An attribution that does not beat it may only be finding edges.',
  needsLayer: false,
  control: true,
  async explain(req) {
    const targets = resolveTargets(req.model, req);
    const maps = sobelMaps(req.input);
    try {
      return await finish('sobel', maps, targets, false, { meta: { modelFree: true } });
    } finally {
      maps.dispose();
    }
  },
};
