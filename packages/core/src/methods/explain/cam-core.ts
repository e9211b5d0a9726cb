/**
 * The gradient CAMs: activations A and gradients G of a layer (layer-gradients.ts) and a weighting
 * rule per variant giving channel-weighted activations; the CAM base (cam-base.ts) does the rest.
 * Each variant (Grad-CAM, Grad-CAM++, XGrad-CAM, Layer-CAM, HiResCAM, Eigen-CAM) is only its rule.
 */
import * as tf from '@tensorflow/tfjs';
import { type CamBaseOptions, type CamVariant, camExplainWith, camMethod } from './cam-base.ts';
import { layerGradients } from './layer-gradients.ts';
import type { ExplainMethod, ExplainRequest, Explanation } from './types.ts';

/**
 * A variant's rule: channel-weighted activations [N, h, w, C] from A and G (both [N, h, w, C]); the
 * base (cam-base.ts) sums them over channels, or projects them with eigen-smooth. A rule may return
 * [N, h, w] maps directly when it is not a channel weighting (Eigen-CAM).
 */
export type CamRule = (acts: tf.Tensor4D, grads: tf.Tensor4D) => tf.Tensor4D | tf.Tensor3D;

const EPS = 1e-7;

/** Grad-CAM (Selvaraju et al.): channel weights = spatial mean of the gradients. */
export const gradcamRule: CamRule = (a, g) => tf.mul(a, tf.mean(g, [1, 2], true));

/** Grad-CAM++ (Chattopadhay et al.), with the exponential-score closed form pytorch-grad-cam uses. */
export const gradcamPlusPlusRule: CamRule = (a, g) => {
  const g2 = tf.square(g);
  const g3 = tf.mul(g2, g);
  const sumA = tf.sum(a, [1, 2], true);
  const alpha = tf.where(
    tf.notEqual(g, 0),
    tf.div(g2, tf.add(tf.add(tf.mul(2, g2), tf.mul(sumA, g3)), EPS)),
    tf.zerosLike(g),
  );
  const w = tf.sum(tf.mul(alpha, tf.relu(g)), [1, 2], true);
  return tf.mul(a, w);
};

/** XGrad-CAM (Fu et al.): weights = Σ(G·A) / ΣA per channel. */
export const xgradcamRule: CamRule = (a, g) => {
  const w = tf.div(tf.sum(tf.mul(g, a), [1, 2], true), tf.add(tf.sum(a, [1, 2], true), EPS));
  return tf.mul(a, w);
};

/** Layer-CAM (Jiang et al.): element-wise ReLU(G)·A, summed over channels. */
export const layercamRule: CamRule = (a, g) => tf.mul(tf.relu(g), a);

/** HiResCAM (Draelos & Carin): element-wise G·A summed over channels (faithful to the score for GAP heads). */
export const hirescamRule: CamRule = (a, g) => tf.mul(g, a);

/**
 * Eigen-CAM (Muhammad & Yeasin): the projection of A on its first principal direction (no
 * gradient, no class: the same map for every target), sign chosen so the map's mean is positive.
 */
export const eigencamRule: CamRule = (a) => {
  const [n, h, w, c] = a.shape;
  const maps: tf.Tensor[] = [];
  for (let i = 0; i < n; i++) {
    const m = tf.reshape(tf.slice(a, [i, 0, 0, 0], [1, h, w, c]), [h * w, c]);
    // Power iteration on AᵀA for the top right-singular vector (C is small; 50 steps converge).
    const ata = tf.matMul(m, m, true, false);
    let v: tf.Tensor = tf.ones([c, 1]);
    for (let k = 0; k < 50; k++) v = tf.div(tf.matMul(ata, v), tf.add(tf.norm(tf.matMul(ata, v)), EPS));
    let p = tf.reshape(tf.matMul(m, v), [h, w]);
    p = tf.mul(p, tf.sign(tf.add(tf.mean(p), EPS)));
    maps.push(p);
  }
  return tf.stack(maps) as tf.Tensor3D;
};

export type CamOptions = CamBaseOptions;

/** The variant of a gradient rule: A and G of the layer, the rule's weighted activations. */
export function gradientCam(
  id: string,
  title: string,
  description: string,
  rule: CamRule,
): CamVariant<CamBaseOptions> {
  return {
    id,
    title,
    description,
    compute({ model, input, targets, layer }) {
      const { acts, grads } = layerGradients(model, layer as tf.layers.Layer, input, targets);
      try {
        const r = tf.tidy(() => rule(acts, grads));
        return r.rank === 4 ? { weighted: r as tf.Tensor4D } : { map: r as tf.Tensor3D };
      } finally {
        tf.dispose([acts, grads]);
      }
    },
  };
}

/** One gradient rule through the CAM base (guided Grad-CAM reuses Grad-CAM this way). */
export function camExplain(id: string, rule: CamRule, req: ExplainRequest<CamOptions>): Promise<Explanation> {
  return camExplainWith(gradientCam(id, id, '', rule), req);
}

const cam = (id: string, title: string, description: string, rule: CamRule): ExplainMethod<CamOptions> =>
  camMethod(gradientCam(id, title, description, rule));

export const CAM_METHODS: ExplainMethod<CamOptions>[] = [
  cam(
    'gradcam',
    'Grad-CAM',
    'Weights each channel of a conv layer by the mean gradient of the class score and keeps the positive sum: where the evidence for the class lies, at the layer’s resolution.',
    gradcamRule,
  ),
  cam(
    'gradcam++',
    'Grad-CAM++',
    'Grad-CAM with pixel-wise weights from second- and third-order gradient terms: better with several instances of the class.',
    gradcamPlusPlusRule,
  ),
  cam(
    'xgradcam',
    'XGrad-CAM',
    'Channel weights normalised by the activation mass (axiom-based Grad-CAM).',
    xgradcamRule,
  ),
  cam(
    'layercam',
    'Layer-CAM',
    'Element-wise positive gradients times activations: finer maps, usable on earlier layers.',
    layercamRule,
  ),
  cam(
    'hirescam',
    'HiResCAM',
    'Element-wise gradients times activations before summing: provably shows the locations that raise the score.',
    hirescamRule,
  ),
  cam(
    'eigencam',
    'Eigen-CAM',
    'First principal component of the layer’s activations: class-agnostic, no gradients.',
    eigencamRule,
  ),
];
