/**
 * Score-CAM (Wang et al.): no gradients. Each channel A_k of a layer, upsampled to the input and
 * min-max scaled to [0, 1], is used as a soft mask on the input; the class score of the masked
 * input rates the channel, and the map is ReLU(Σ_k w_k A_k) at the layer's resolution, upsampled.
 *
 * Variant: pytorch-grad-cam's ScoreCAM, w = softmax over channels of the target's score (the logit
 * when the model has a `logits` layer, else its output). The paper's baseline subtraction
 * (score increase over an all-masked input) does not change a softmax over channels, so it is skipped.
 */
import * as tf from '@tensorflow/tfjs';
import { finish, pickLayer, resolveTargets, scores, upsample } from './common.ts';
import type { ExplainMethod, ExplainRequest, Explanation } from './types.ts';

export interface ScoreCamOptions {
  /** Masked copies per forward pass (default 32). */
  batch?: number;
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

export const scoreCam: ExplainMethod<ScoreCamOptions> = {
  id: 'scorecam',
  title: 'Score-CAM',
  description:
    'Weights each channel of a conv layer by the class score of the input masked with that channel’s upsampled activation (softmax over channels): a CAM without gradients, one forward pass per channel.',
  needsLayer: true,
  async explain(req: ExplainRequest<ScoreCamOptions>): Promise<Explanation> {
    const targets = resolveTargets(req.model, req);
    const batch = req.options?.batch ?? 32;
    if (!(Number.isInteger(batch) && batch >= 1))
      throw new Error(`batch must be a positive integer, got ${batch}`);
    const { layer, warning } = pickLayer(req.model, req.layer);
    const [n, H, W] = req.input.shape;
    const acts = tf.tidy(
      () => activationModel(req.model, layer).apply(req.input, { training: false }) as tf.Tensor4D,
    );
    const weights: Float32Array[] = [];
    const cams: tf.Tensor2D[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const [a, image] = tf.tidy(() => [
          tf.squeeze(tf.slice(acts, i, 1), [0]),
          tf.squeeze(tf.slice(req.input, i, 1), [0]),
        ]) as [tf.Tensor3D, tf.Tensor3D];
        try {
          const s = await channelScores(req.model, image, a, targets[i], batch);
          const w = tf.tidy(() => tf.softmax(tf.tensor1d(s)));
          weights.push((await w.data()) as Float32Array);
          cams.push(tf.tidy(() => tf.relu(tf.sum(tf.mul(a, w), 2)) as tf.Tensor2D));
          w.dispose();
        } finally {
          tf.dispose([a, image]);
        }
      }
      const maps = tf.tidy(() => upsample(tf.stack(cams) as tf.Tensor3D, H, W));
      try {
        return await finish('scorecam', maps, targets, false, {
          layer: layer.name,
          warnings: targets.map(() => (warning ? [warning] : [])),
          meta: {
            layer: layer.name,
            layerShape: (layer.outputShape as number[]).slice(1),
            evaluations: n * acts.shape[3],
            channelWeights: weights.map((w) => Array.from(w)),
          },
        });
      } finally {
        maps.dispose();
      }
    } finally {
      tf.dispose([acts, ...cams]);
    }
  },
};
