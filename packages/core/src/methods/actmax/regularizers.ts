/**
 * Image priors, per image of a batch, with keras-vis's semantics and normalization so weights carry
 * over from the lab: both are divided by the number of values in one image (H·W·C).
 */
import * as tf from '@tensorflow/tfjs';

/**
 * keras-vis TotalVariation(beta): Σ over rows 0..H-2, columns 0..W-2 and channels of
 * ((x[i+1,j] − x[i,j])² + (x[i,j+1] − x[i,j])²)^(β/2), divided by H·W·C. Returns [B].
 */
export function totalVariation(x: tf.Tensor4D, beta = 2): tf.Tensor1D {
  return tf.tidy(() => {
    const [, h, w, c] = x.shape;
    const base = x.slice([0, 0, 0, 0], [-1, h - 1, w - 1, -1]);
    const down = x
      .slice([0, 1, 0, 0], [-1, h - 1, w - 1, -1])
      .sub(base)
      .square();
    const right = x
      .slice([0, 0, 1, 0], [-1, h - 1, w - 1, -1])
      .sub(base)
      .square();
    let tv: tf.Tensor = down.add(right);
    if (beta !== 2) tv = tv.pow(beta / 2);
    return tv.sum([1, 2, 3]).div(h * w * c);
  });
}

/** keras-vis LPNorm(p): (Σ|x|^p)^(1/p) / (H·W·C). Returns [B]. */
export function lpNorm(x: tf.Tensor4D, p = 6): tf.Tensor1D {
  return tf.tidy(() => {
    const [, h, w, c] = x.shape;
    // The tiny floor keeps the gradient of the root finite on an all-zero image.
    return x
      .abs()
      .pow(p)
      .sum([1, 2, 3])
      .add(1e-30)
      .pow(1 / p)
      .div(h * w * c);
  });
}

/** The same total variation in plain JS (float64) for one H×W×C image: for reports and tests. */
export function totalVariationOf(img: ArrayLike<number>, h: number, w: number, c: number, beta = 2): number {
  let sum = 0;
  for (let i = 0; i < h - 1; i++) {
    for (let j = 0; j < w - 1; j++) {
      for (let k = 0; k < c; k++) {
        const v = img[(i * w + j) * c + k];
        const dy = img[((i + 1) * w + j) * c + k] - v;
        const dx = img[(i * w + j + 1) * c + k] - v;
        sum += (dy * dy + dx * dx) ** (beta / 2);
      }
    }
  }
  return sum / (h * w * c);
}
