/**
 * Ablation-CAM (Desai & Ramaswamy, WACV 2020): no gradients. Each channel k of the layer is zeroed
 * in turn and the drop of the target score rates it: w_k = (y − y_k) / |y|; the map is Σ_k w_k A_k.
 * Batched: the layer runs once per batch of channels, its output broadcast against `batch` channel
 * masks, so only the rest of the network runs `batch` times (a model whose later layers cannot take
 * that broadcast, e.g. a concatenation with an earlier branch, gets the input repeated instead).
 */
import * as tf from '@tensorflow/tfjs';
import { camMethod } from './cam-base.ts';
import { layerForward } from './layer-forward.ts';

export interface AblationCamOptions {
  /** Channels ablated per forward pass (default 64). */
  batch?: number;
}

const EPS = 1e-7;

/** Target scores with channel k0+j of the layer zeroed in copy j, for one example: [k1 − k0]. */
async function ablatedScores(
  model: tf.LayersModel,
  layer: tf.layers.Layer,
  x: tf.Tensor4D,
  channels: number,
  k0: number,
  k1: number,
  target: number,
): Promise<Float32Array> {
  const k = k1 - k0;
  const masks = tf.tidy(() =>
    tf.reshape(tf.sub(1, tf.oneHot(tf.range(k0, k1, 1, 'int32'), channels)), [k, 1, 1, channels]),
  );
  const run = (input: tf.Tensor4D) => {
    const r = layerForward(model, layer, input, (a) => tf.mul(a, masks) as tf.Tensor4D);
    r.acts.dispose();
    return r.scores;
  };
  let s: tf.Tensor2D;
  try {
    try {
      s = run(x);
    } catch {
      const tiled = tf.tile(x, [k, 1, 1, 1]) as tf.Tensor4D;
      try {
        s = run(tiled);
      } finally {
        tiled.dispose();
      }
    }
    const t = tf.tidy(() => tf.squeeze(tf.gather(s, [target], 1), [1]));
    s.dispose();
    const out = (await t.data()) as Float32Array;
    t.dispose();
    return out;
  } finally {
    masks.dispose();
  }
}

export const ablationCam = camMethod<AblationCamOptions>({
  id: 'ablationcam',
  title: 'Ablation-CAM',
  description:
    'Weights each channel of a conv layer by how much the class score drops when that channel is zeroed (no gradients): one forward pass per batch of channels.',
  check(o) {
    const b = o.batch ?? 64;
    if (!(Number.isInteger(b) && b >= 1)) throw new Error(`batch must be a positive integer, got ${b}`);
  },
  async compute({ model, input, targets, layer, options }) {
    const l = layer as tf.layers.Layer;
    const batch = options.batch ?? 64;
    const [n] = input.shape;
    const { acts, scores } = layerForward(model, l, input);
    const channels = acts.shape[3];
    try {
      const base = (await scores.data()) as Float32Array;
      const classes = scores.shape[1];
      const weights = new Float32Array(n * channels);
      for (let i = 0; i < n; i++) {
        const xi = tf.slice(input, i, 1);
        try {
          const y = base[i * classes + targets[i]];
          for (let k0 = 0; k0 < channels; k0 += batch) {
            const k1 = Math.min(channels, k0 + batch);
            const yk = await ablatedScores(model, l, xi, channels, k0, k1, targets[i]);
            for (let j = 0; j < yk.length; j++)
              weights[i * channels + k0 + j] = (y - yk[j]) / (Math.abs(y) + EPS);
          }
        } finally {
          xi.dispose();
        }
      }
      const weighted = tf.tidy(() => tf.mul(acts, tf.tensor4d(weights, [n, 1, 1, channels])) as tf.Tensor4D);
      return {
        weighted,
        meta: {
          evaluations: n * channels,
          channelWeights: Array.from({ length: n }, (_, i) =>
            Array.from(weights.subarray(i * channels, (i + 1) * channels)),
          ),
        },
      };
    } finally {
      tf.dispose([acts, scores]);
    }
  },
});
