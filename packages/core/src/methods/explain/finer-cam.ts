/**
 * Finer-CAM (Zhang et al., CVPR 2025; pytorch-grad-cam's FinerCAM): Grad-CAM of the target's score
 * minus its most similar classes' scores, Σ_j p_j (y_c − α y_j) / Σ_j p_j with p the classes'
 * probabilities (held constant), so the map shows what tells the class apart from its look-alikes
 * rather than what it shares with them. Similar = closest logit to the target's (pytorch-grad-cam),
 * or most similar final-layer weight vector (cosine).
 */
import * as tf from '@tensorflow/tfjs';
import { scoreHead } from '../../models/logits.ts';
import { camMethod } from './cam-base.ts';
import { gradcamRule } from './cam-core.ts';
import { scores } from './common.ts';
import { layerGradients } from './layer-gradients.ts';

export interface FinerCamOptions {
  /** How many most similar classes to contrast with (default 3). */
  contrast?: number;
  /** The classes to contrast with, instead of the most similar ones. */
  classes?: number[];
  /** Strength of the contrast: y_c − α·y_j (default 1). */
  alpha?: number;
  /** 'logit' (closest scores, per input; default) or 'weight' (cosine of the final layer's weight vectors). */
  similarity?: 'logit' | 'weight';
}

/** Row-major [F, K] weights of the layer the scores come from (a dense or 1×1 conv layer), or undefined. */
function scoreWeights(model: tf.LayersModel): { w: Float32Array; f: number; k: number } | undefined {
  const head = scoreHead(model);
  const layer =
    head.net.layers.find((l) => l.name === head.from) ?? head.net.layers[head.net.layers.length - 1];
  const kernel = layer?.getWeights()[0];
  if (!kernel) return undefined;
  const k = kernel.shape[kernel.shape.length - 1] as number;
  const f = kernel.size / k;
  if (kernel.rank === 4 && (kernel.shape[0] !== 1 || kernel.shape[1] !== 1)) return undefined;
  return { w: kernel.dataSync() as Float32Array, f, k };
}

/** Classes by decreasing cosine similarity of their weight vectors to the target's. */
function byWeight(sw: { w: Float32Array; f: number; k: number }, target: number): number[] {
  const { w, f, k } = sw;
  const norm = (c: number) => {
    let s = 0;
    for (let i = 0; i < f; i++) s += w[i * k + c] ** 2;
    return Math.sqrt(s);
  };
  const nt = norm(target);
  const sim = Array.from({ length: k }, (_, c) => {
    let d = 0;
    for (let i = 0; i < f; i++) d += w[i * k + c] * w[i * k + target];
    return d / (nt * norm(c) + 1e-12);
  });
  return sim
    .map((s, c) => [s, c] as const)
    .filter(([, c]) => c !== target)
    .sort((a, b) => b[0] - a[0])
    .map(([, c]) => c);
}

export const finerCam = camMethod<FinerCamOptions>({
  id: 'finercam',
  title: 'Finer-CAM',
  description:
    'Grad-CAM of the class score minus the scores of its most similar classes: where the features that tell the class apart from its look-alikes are, not those it shares with them.',
  check(o) {
    if (typeof o.classes === 'number') o.classes = [o.classes]; // one class from the command line
    const c = o.contrast ?? 3;
    if (!(Number.isInteger(c) && c >= 1)) throw new Error(`contrast must be a positive integer, got ${c}`);
    if (o.alpha !== undefined && !Number.isFinite(o.alpha))
      throw new Error(`alpha must be a number, got ${o.alpha}`);
    if (o.similarity !== undefined && o.similarity !== 'logit' && o.similarity !== 'weight')
      throw new Error(`similarity must be 'logit' or 'weight', got '${o.similarity}'`);
    if (o.classes !== undefined && (!Array.isArray(o.classes) || o.classes.length === 0))
      throw new Error('classes must be a non-empty list of class indices');
  },
  async compute({ model, input, targets, layer, options }) {
    const s = tf.tidy(() => scores(model, input));
    const probs = tf.tidy(() => (scoreHead(model).kind === 'logits' ? tf.softmax(s) : s.clone()));
    const [y, p] = [(await s.data()) as Float32Array, (await probs.data()) as Float32Array];
    tf.dispose([s, probs]);
    const [n, k] = s.shape;
    const alpha = options.alpha ?? 1;
    const sw = options.similarity === 'weight' ? scoreWeights(model) : undefined;
    if (options.similarity === 'weight' && !sw)
      throw new Error(`similarity 'weight' needs scores from a dense or 1×1 conv layer; use 'logit'`);
    const coef = new Float32Array(n * k);
    const contrasted: number[][] = [];
    for (let i = 0; i < n; i++) {
      const t = targets[i];
      let others: number[];
      if (options.classes) {
        for (const c of options.classes)
          if (!(Number.isInteger(c) && c >= 0 && c < k && c !== t))
            throw new Error(`contrast class ${c} must be a class 0–${k - 1} other than the target ${t}`);
        others = options.classes;
      } else {
        const order = sw
          ? byWeight(sw, t)
          : Array.from({ length: k }, (_, c) => c)
              .filter((c) => c !== t)
              .sort((a, b) => Math.abs(y[i * k + a] - y[i * k + t]) - Math.abs(y[i * k + b] - y[i * k + t]));
        others = order.slice(0, options.contrast ?? 3);
      }
      // Σ_j p_j (y_c − α y_j) / Σ_j p_j = y_c − α Σ_j (p_j / Σp) y_j; equal shares if every p_j underflows.
      const total = others.reduce((a, c) => a + p[i * k + c], 0);
      coef[i * k + t] += 1;
      for (const c of others)
        coef[i * k + c] -= alpha * (total > 0 ? p[i * k + c] / total : 1 / others.length);
      contrasted.push(others);
    }
    const weights = tf.tensor2d(coef, [n, k]);
    try {
      const { acts, grads } = layerGradients(model, layer as tf.layers.Layer, input, targets, (sc) =>
        tf.sum(tf.mul(sc, weights)),
      );
      try {
        return {
          weighted: tf.tidy(() => gradcamRule(acts, grads) as tf.Tensor4D),
          meta: { contrastClasses: contrasted, alpha },
        };
      } finally {
        tf.dispose([acts, grads]);
      }
    } finally {
      weights.dispose();
    }
  },
});
