/**
 * Score-CAM (Wang et al.): no gradients. Each channel A_k of a layer, upsampled to the input and
 * min-max scaled to [0, 1], is used as a soft mask on the input; the class score of the masked
 * input rates the channel, and the map is ReLU(Σ_k w_k A_k) at the layer's resolution, upsampled
 * (by the CAM base, so Score-CAM takes its smoothing and layer-fusion options too).
 *
 * Variant: pytorch-grad-cam's ScoreCAM, w = softmax over channels of the target's score (the logit
 * when the model has a `logits` layer, else its output). The paper's baseline subtraction
 * (score increase over an all-masked input) does not change a softmax over channels, so it is skipped.
 *
 * `channels: N` is Faster-Score-CAM (tf-keras-vis's max_N; Score-CAM authors' "faster version"): only
 * the N channels whose activation maps vary most are scored, the rest get weight 0 (N forwards instead
 * of K). Said in the map's warnings, since the map is then an approximation.
 */
import * as tf from '@tensorflow/tfjs';
import { camMethod } from './cam-base.ts';
import { scores, upsample } from './common.ts';

export interface ScoreCamOptions {
  /** Masked copies per forward pass (default 32). */
  batch?: number;
  /** Score only the N channels of largest activation variance (Faster-Score-CAM; default: all). */
  channels?: number;
}

const subModels = new WeakMap<tf.LayersModel, Map<string, tf.LayersModel>>();

/** Model from the input to the layer's output, cached per model and layer (shares weights). */
function activationModel(model: tf.LayersModel, layer: tf.layers.Layer): tf.LayersModel {
  let byLayer = subModels.get(model);
  if (!byLayer) {
    byLayer = new Map();
    subModels.set(model, byLayer);
  }
  let sub = byLayer.get(layer.name);
  if (!sub) {
    sub = tf.model({ inputs: model.inputs, outputs: layer.output as tf.SymbolicTensor });
    byLayer.set(layer.name, sub);
  }
  return sub;
}

/** Channels k0..k1 of one example's [h, w, K] activations as [k, H, W] masks, each scaled to [0, 1]. */
function channelMasks(acts: tf.Tensor3D, k0: number, k1: number, H: number, W: number): tf.Tensor3D {
  return tf.tidy(() => {
    const chans = tf.transpose(tf.slice(acts, [0, 0, k0], [-1, -1, k1 - k0]), [2, 0, 1]) as tf.Tensor3D;
    const up = upsample(chans, H, W);
    const lo = tf.min(up, [1, 2], true);
    const hi = tf.max(up, [1, 2], true);
    return tf.div(tf.sub(up, lo), tf.add(tf.sub(hi, lo), 1e-8)) as tf.Tensor3D;
  });
}

/** The target's score for the input masked by each channel of one example: [K] values. */
async function channelScores(
  model: tf.LayersModel,
  image: tf.Tensor3D,
  acts: tf.Tensor3D,
  target: number,
  batch: number,
): Promise<Float32Array> {
  const [H, W] = image.shape;
  const K = acts.shape[2];
  const out = new Float32Array(K);
  for (let k0 = 0; k0 < K; k0 += batch) {
    const k1 = Math.min(K, k0 + batch);
    const s = tf.tidy(() => {
      const masks = tf.expandDims(channelMasks(acts, k0, k1, H, W), 3);
      const masked = tf.mul(tf.expandDims(image, 0), masks) as tf.Tensor4D;
      return tf.gather(scores(model, masked), [target], 1);
    });
    out.set((await s.data()) as Float32Array, k0);
    s.dispose();
  }
  return out;
}

/** Indices of the n channels of [h, w, K] activations with the largest variance over h·w. */
async function topVarianceChannels(a: tf.Tensor3D, n: number): Promise<number[]> {
  const v = tf.tidy(() => tf.moments(a, [0, 1]).variance);
  const vs = (await v.data()) as Float32Array;
  v.dispose();
  return Array.from(vs.keys())
    .sort((x, y) => vs[y] - vs[x] || x - y)
    .slice(0, n);
}

export const scoreCam = camMethod<ScoreCamOptions>({
  id: 'scorecam',
  title: 'Score-CAM',
  description:
    'Weights each channel of a conv layer by the class score of the input masked with that channel’s upsampled activation (softmax over channels): a CAM without gradients, one forward pass per channel.',
  check(o) {
    const batch = o.batch ?? 32;
    if (!(Number.isInteger(batch) && batch >= 1))
      throw new Error(`batch must be a positive integer, got ${batch}`);
    if (o.channels !== undefined && !(Number.isInteger(o.channels) && o.channels >= 1))
      throw new Error(`channels must be a positive integer, got ${o.channels}`);
  },
  async compute({ model, input, targets, layer, options }) {
    const l = layer as tf.layers.Layer;
    const n = input.shape[0];
    const acts = tf.tidy(() => activationModel(model, l).apply(input, { training: false }) as tf.Tensor4D);
    const K = acts.shape[3];
    const N = Math.min(K, options.channels ?? K);
    const weights = new Float32Array(n * K);
    const warnings: string[][] = Array.from({ length: n }, () => []);
    try {
      for (let i = 0; i < n; i++) {
        const [a, image] = tf.tidy(() => [
          tf.squeeze(tf.slice(acts, i, 1), [0]),
          tf.squeeze(tf.slice(input, i, 1), [0]),
        ]) as [tf.Tensor3D, tf.Tensor3D];
        let picked: tf.Tensor3D | null = null;
        try {
          // Faster-Score-CAM: the N channels of largest spatial variance (ties: the lower index).
          const keep = N < K ? await topVarianceChannels(a, N) : null;
          if (keep) picked = tf.tidy(() => tf.gather(a, keep, 2) as tf.Tensor3D);
          const s = await channelScores(model, image, picked ?? a, targets[i], options.batch ?? 32);
          const w = tf.tidy(() => tf.softmax(tf.tensor1d(s)));
          const wv = (await w.data()) as Float32Array;
          w.dispose();
          if (keep) {
            keep.forEach((k, j) => {
              weights[i * K + k] = wv[j];
            });
            warnings[i].push(
              `Faster-Score-CAM: ${N} of ${K} channels scored (largest activation variance), the rest weighted 0`,
            );
          } else weights.set(wv, i * K);
        } finally {
          tf.dispose([a, image]);
          picked?.dispose();
        }
      }
      return {
        weighted: tf.tidy(() => tf.mul(acts, tf.tensor4d(weights, [n, 1, 1, K])) as tf.Tensor4D),
        warnings,
        meta: {
          evaluations: n * N,
          channelsScored: N,
          channelWeights: Array.from({ length: n }, (_, i) =>
            Array.from(weights.subarray(i * K, (i + 1) * K)),
          ),
        },
      };
    } finally {
      acts.dispose();
    }
  },
});
