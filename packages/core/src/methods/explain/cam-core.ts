/**
 * The CAM family's one core: activations A and gradients G of a layer (layer-gradients.ts), a
 * weighting rule per variant giving [N, h, w] maps, ReLU, bilinear upsampling to the input. Each
 * variant (Grad-CAM, Grad-CAM++, XGrad-CAM, Layer-CAM, HiResCAM, Eigen-CAM) is only its rule.
 */
import * as tf from '@tensorflow/tfjs';
import { finish, pickLayer, resolveTargets, upsample } from './common.ts';
import { layerGradients } from './layer-gradients.ts';
import type { ExplainMethod, ExplainRequest, Explanation } from './types.ts';

/** A variant's rule: [N, h, w] maps (before ReLU) from A and G (both [N, h, w, C]). */
export type CamRule = (acts: tf.Tensor4D, grads: tf.Tensor4D) => tf.Tensor3D;

const EPS = 1e-7;

/** Grad-CAM (Selvaraju et al.): channel weights = spatial mean of the gradients. */
export const gradcamRule: CamRule = (a, g) => tf.sum(tf.mul(a, tf.mean(g, [1, 2], true)), 3) as tf.Tensor3D;

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
  return tf.sum(tf.mul(a, w), 3) as tf.Tensor3D;
};

/** XGrad-CAM (Fu et al.): weights = Σ(G·A) / ΣA per channel. */
export const xgradcamRule: CamRule = (a, g) => {
  const w = tf.div(tf.sum(tf.mul(g, a), [1, 2], true), tf.add(tf.sum(a, [1, 2], true), EPS));
  return tf.sum(tf.mul(a, w), 3) as tf.Tensor3D;
};

/** Layer-CAM (Jiang et al.): element-wise ReLU(G)·A, summed over channels. */
export const layercamRule: CamRule = (a, g) => tf.sum(tf.mul(tf.relu(g), a), 3) as tf.Tensor3D;

/** HiResCAM (Draelos & Carin): element-wise G·A summed over channels (faithful to the score for GAP heads). */
export const hirescamRule: CamRule = (a, g) => tf.sum(tf.mul(g, a), 3) as tf.Tensor3D;

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

export interface CamOptions {
  /** Keep negative evidence instead of the usual ReLU (default false). */
  signed?: boolean;
}

export async function camExplain(
  id: string,
  rule: CamRule,
  req: ExplainRequest<CamOptions>,
): Promise<Explanation> {
  const targets = resolveTargets(req.model, req);
  const { layer, warning } = pickLayer(req.model, req.layer);
  const [, H, W] = req.input.shape;
  const { acts, grads } = layerGradients(req.model, layer, req.input, targets);
  try {
    const maps = tf.tidy(() => {
      const raw = rule(acts, grads);
      return upsample(req.options?.signed ? raw : (tf.relu(raw) as tf.Tensor3D), H, W);
    });
    try {
      return await finish(id, maps, targets, !!req.options?.signed, {
        layer: layer.name,
        warnings: targets.map(() => (warning ? [warning] : [])),
        meta: { layer: layer.name, layerShape: (layer.outputShape as number[]).slice(1) },
      });
    } finally {
      maps.dispose();
    }
  } finally {
    tf.dispose([acts, grads]);
  }
}

const cam = (id: string, title: string, description: string, rule: CamRule): ExplainMethod<CamOptions> => ({
  id,
  title,
  description,
  needsLayer: true,
  explain: (req) => camExplain(id, rule, req),
});

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
