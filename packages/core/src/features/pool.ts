/**
 * A layer's output as one feature row per image: global average or max over the spatial positions
 * (one value per channel, as a GAP head sees it), or the whole map flattened in NHWC order (VGG's
 * fc-style 4,096-vector is a flatten of a dense layer). Pure math so the browser and Node agree.
 */

export type FeaturePool = 'avg' | 'max' | 'flatten';
export const FEATURE_POOLS: readonly FeaturePool[] = ['avg', 'max', 'flatten'];

/** Features per image of a layer of output shape `shape` (no batch axis) under `pool`. */
export function pooledWidth(shape: readonly number[], pool: FeaturePool): number {
  if (pool === 'flatten' || shape.length < 3) return shape.reduce((a, b) => a * b, 1);
  return shape[shape.length - 1];
}

/**
 * Rows of `n` images from a layer's output `values` (n × shape, row-major: NHWC for maps). A layer
 * without spatial axes ([units]) is its own row whatever the pool. Averages sum in float64 and round
 * once to float32, so a row does not depend on how images were batched.
 */
export function poolRows(
  values: Float32Array,
  n: number,
  shape: readonly number[],
  pool: FeaturePool,
): Float32Array {
  const per = shape.reduce((a, b) => a * b, 1);
  if (values.length !== n * per)
    throw new Error(`poolRows: ${values.length} values are not ${n} images of shape [${shape.join(', ')}]`);
  if (pool === 'flatten' || shape.length < 3) return values.slice();
  const c = shape[shape.length - 1];
  const positions = per / c;
  const out = new Float32Array(n * c);
  const acc = new Float64Array(c);
  for (let i = 0; i < n; i++) {
    const base = i * per;
    if (pool === 'avg') {
      acc.fill(0);
      for (let p = 0; p < positions; p++) {
        const o = base + p * c;
        for (let k = 0; k < c; k++) acc[k] += values[o + k];
      }
      for (let k = 0; k < c; k++) out[i * c + k] = acc[k] / positions;
    } else {
      acc.fill(Number.NEGATIVE_INFINITY);
      for (let p = 0; p < positions; p++) {
        const o = base + p * c;
        for (let k = 0; k < c; k++) if (values[o + k] > acc[k]) acc[k] = values[o + k];
      }
      for (let k = 0; k < c; k++) out[i * c + k] = acc[k];
    }
  }
  return out;
}
