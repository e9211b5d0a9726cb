/**
 * Shared plumbing of the explanation methods: class scores, targets, default layer, reading maps
 * back as plain arrays with their warnings, and upsampling layer maps to input size.
 */
import * as tf from '@tensorflow/tfjs';
import { inferenceTwin } from '../../models/inference-twin.ts';
import { findLayer } from '../../models/layer-aliases.ts';
import { scoreHead } from '../../models/logits.ts';
import type { ExplainRequest, Explanation } from './types.ts';

/**
 * Class scores: pre-softmax logits when the model has a `logits` layer, else its (softmax) output.
 * Computed by the inference twin (conv + batch norm + relu chains folded into one kernel each).
 */
export function scores(model: tf.LayersModel, x: tf.Tensor): tf.Tensor2D {
  return inferenceTwin(scoreHead(model).net).apply(x, { training: false }) as tf.Tensor2D;
}

/** One target per example, checked against the model's class count. */
export function resolveTargets(model: tf.LayersModel, req: ExplainRequest<unknown>): number[] {
  const n = req.input.shape[0];
  const classes = (model.outputs[0].shape as number[])[1] ?? 0;
  const t = Array.isArray(req.target) ? req.target : new Array<number>(n).fill(req.target);
  if (t.length !== n) throw new Error(`${t.length} targets for a batch of ${n} inputs`);
  for (const c of t) {
    if (!Number.isInteger(c) || c < 0 || c >= classes)
      throw new Error(`class ${c} out of range: the model has ${classes} classes (0–${classes - 1})`);
  }
  return t;
}

/** Sum over the batch of each example's target score: its gradient is every example's own. */
export function targetScore(s: tf.Tensor2D, targets: number[]): tf.Scalar {
  const mask = tf.oneHot(tf.tensor1d(targets, 'int32'), s.shape[1]);
  return tf.sum(tf.mul(s, mask));
}

// Identity at inference: a map "at" one of these is the map of the layer before it.
const PASS_THROUGH = new Set([
  'InputLayer',
  'Dropout',
  'SpatialDropout2D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
]);

const spatial = (l: tf.layers.Layer) => {
  const shape = l.outputShape as number[];
  return Array.isArray(shape) && shape.length === 4 ? shape : null;
};

/**
 * The layer a layer-based method uses: the one asked for (its output must be spatial, [N, H, W, C]),
 * else the last layer whose output is spatial and larger than 1×1 (skipping dropout and noise layers,
 * which pass their input through at inference).
 */
export function pickLayer(
  model: tf.LayersModel,
  name?: string,
): { layer: tf.layers.Layer; warning?: string } {
  if (name) {
    const layer = findLayer(model, name); // a layer name, or an alias (e.g. a PyTorch module name)
    if (!layer) {
      const valid = model.layers.filter((l) => spatial(l)).map((l) => l.name);
      throw new Error(`no layer '${name}' in model '${model.name}' (spatial layers: ${valid.join(', ')})`);
    }
    const s = spatial(layer);
    if (!s)
      throw new Error(
        `layer '${name}' has no spatial output (shape [${layer.outputShape}]): pick a conv or pool layer`,
      );
    return {
      layer,
      warning: s[1] === 1 && s[2] === 1 ? `layer '${name}' is 1×1: its map is constant` : undefined,
    };
  }
  const candidates = model.layers.filter((l) => {
    const s = spatial(l);
    return s && (s[1] as number) > 1 && (s[2] as number) > 1 && !PASS_THROUGH.has(l.getClassName());
  });
  const layer = candidates[candidates.length - 1];
  if (!layer) throw new Error(`model '${model.name}' has no layer with a spatial output larger than 1×1`);
  return { layer };
}

/** Bilinear upsampling of [N, h, w] maps to the input's [N, H, W]. */
export function upsample(maps: tf.Tensor3D, height: number, width: number): tf.Tensor3D {
  if (maps.shape[1] === height && maps.shape[2] === width) return maps.clone();
  return tf.tidy(() =>
    tf.squeeze(tf.image.resizeBilinear(tf.expandDims(maps, 3) as tf.Tensor4D, [height, width], true), [3]),
  );
}

/** Reads [N, H, W] maps into plain arrays and notes all-zero or non-finite ones. */
export async function finish(
  method: string,
  maps: tf.Tensor3D,
  targets: number[],
  signed: boolean,
  extra: Partial<Explanation> = {},
): Promise<Explanation> {
  const [n, height, width] = maps.shape;
  const data = (await maps.data()) as Float32Array;
  const out: Float32Array[] = [];
  const warnings: string[][] = [];
  for (let i = 0; i < n; i++) {
    const m = n === 1 ? data : data.slice(i * height * width, (i + 1) * height * width);
    const w = [...(extra.warnings?.[i] ?? [])];
    // Plain loops: this runs on every map, and closures cost a third of a batch-1 Grad-CAM's JS time.
    let finite = true;
    let zero = true;
    for (let j = 0; j < m.length; j++) {
      const v = m[j];
      if (!Number.isFinite(v)) finite = false;
      else if (v !== 0) zero = false;
    }
    if (!finite) w.push('NaN or infinite values in the map');
    else if (zero) w.push('all-zero map: nothing in the input raises the target here');
    out.push(m);
    warnings.push(w);
  }
  return { method, maps: out, height, width, signed, targets, meta: {}, ...extra, warnings };
}

/** A method option that must be a positive integer (samples, steps, batch): one line naming it. */
export function positiveInteger(name: string, v: number): number {
  if (!(Number.isInteger(v) && v >= 1)) throw new Error(`${name} must be a positive integer, got ${v}`);
  return v;
}
