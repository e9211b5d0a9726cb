/**
 * Deep Feature Factorization (Collins et al. 2018; pytorch-grad-cam's DeepFeatureFactorization): a
 * conv layer's activations over one image or a few (channels × positions, shifted to be non-negative)
 * factor by NMF into K concepts: a channel vector each (what the concept is to the layer) and a map
 * each (where it is). Each concept vector is sent through the rest of the network as if it filled the
 * whole layer, so its class scores name it ("the concept the head reads as 'espresso'").
 */
import * as tf from '@tensorflow/tfjs';
import { pickLayer, scores, upsample } from '../explain/common.ts';
import { nmf } from './nmf.ts';

export interface DffOptions {
  /** Layer (a spatial one; default: the last spatial layer, as Grad-CAM). */
  layer?: string;
  /** Number of concepts (default 5, as pytorch-grad-cam). */
  k?: number;
  seed?: number;
  iterations?: number;
}

export interface DffResult {
  layer: string;
  /** Layer output [h, w, C]. */
  layerShape: [number, number, number];
  k: number;
  /** K×C concept vectors in the layer's own units (NMF factor + the shift). */
  concepts: Float32Array;
  /** Per image: K×h×w concept amounts at the layer's resolution (NMF's other factor). */
  maps: Float32Array[];
  /** Per image: K×H×W at input resolution, each concept scaled to [0, 1] within the image (pytorch-grad-cam). */
  regions: Float32Array[];
  height: number;
  width: number;
  /** K rows of class scores (logits, or probabilities for models without them) of each concept. */
  scores: number[][];
  relativeError: number;
  iterations: number;
}

/** The network from `layer` on, fed `values` [K, …layer shape] in place of the layer's output. */
export function scoresFromLayer(
  model: tf.LayersModel,
  layer: tf.layers.Layer,
  values: tf.Tensor,
): tf.Tensor2D {
  const original = layer.call;
  const k = values.shape[0];
  const input = model.inputs[0].shape.slice(1) as number[];
  try {
    layer.call = () => values.clone(); // a copy: the layers executor frees what it is handed
    return tf.tidy(() => scores(model, tf.zeros([k, ...input])));
  } finally {
    layer.call = original;
  }
}

export function deepFeatureFactorization(
  model: tf.LayersModel,
  x: tf.Tensor4D,
  o: DffOptions = {},
): DffResult {
  const k = o.k ?? 5;
  const { layer } = pickLayer(model, o.layer);
  const [n, H, W] = x.shape;
  const probe = tf.model({ inputs: model.inputs, outputs: layer.output as tf.SymbolicTensor });
  const acts = tf.tidy(() => probe.predict(x) as tf.Tensor4D);
  const [, h, w, C] = acts.shape;
  const a = acts.dataSync() as Float32Array;
  acts.dispose();
  // V: channels × (images · positions), each channel shifted by its minimum (non-ReLU layers).
  const m = n * h * w;
  const v = new Float64Array(C * m);
  const offset = new Float64Array(C).fill(Number.POSITIVE_INFINITY);
  for (let p = 0; p < m; p++) for (let c = 0; c < C; c++) offset[c] = Math.min(offset[c], a[p * C + c]);
  for (let p = 0; p < m; p++) for (let c = 0; c < C; c++) v[c * m + p] = a[p * C + c] - offset[c];
  const f = nmf(v, C, m, k, { seed: o.seed ?? 0, iterations: o.iterations });
  const concepts = new Float32Array(k * C);
  for (let c = 0; c < C; c++) for (let j = 0; j < k; j++) concepts[j * C + c] = f.w[c * k + j] + offset[c];
  const maps: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const one = new Float32Array(k * h * w);
    for (let j = 0; j < k; j++)
      for (let p = 0; p < h * w; p++) one[j * h * w + p] = f.h[j * m + i * h * w + p];
    maps.push(one);
  }
  const regions = maps.map((one) =>
    tf.tidy(() => {
      const t = tf.tensor3d(one, [k, h, w]);
      const lo = tf.min(t, [1, 2], true);
      const hi = tf.max(t, [1, 2], true);
      const scaled = tf.div(tf.sub(t, lo), tf.add(tf.sub(hi, lo), 1e-7)) as tf.Tensor3D;
      return upsample(scaled, H, W).dataSync() as Float32Array;
    }),
  );
  const filled = tf.tidy(() => tf.tile(tf.tensor4d(concepts, [k, 1, 1, C]), [1, h, w, 1]));
  const s = scoresFromLayer(model, layer, filled);
  filled.dispose();
  const flat = s.dataSync();
  s.dispose();
  const classes = flat.length / k;
  return {
    layer: layer.name,
    layerShape: [h, w, C],
    k,
    concepts,
    maps,
    regions,
    height: H,
    width: W,
    scores: Array.from({ length: k }, (_, j) => Array.from(flat.subarray(j * classes, (j + 1) * classes))),
    relativeError: f.relativeError,
    iterations: f.iterations,
  };
}

/** Softmax of one row. */
export function softmax(row: number[]): number[] {
  const mx = Math.max(...row);
  const e = row.map((v) => Math.exp(v - mx));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
