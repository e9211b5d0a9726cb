/**
 * Neuron groups (Lucid's "building blocks"): NMF of a layer's activations over a dataset sample
 * (positions × channels, shifted to be non-negative) into K groups of channels that fire together.
 * Each group's channel vector, scaled to unit length, is a direction maximize can visualize.
 */
import { batchIterator } from '@convlens/core/data/batches';
import { tf } from '@convlens/core/engine/backend';
import { nmf } from '@convlens/core/methods/concepts/nmf';
import { findLayer } from '@convlens/core/models/layer-aliases';
import { type OpenDatasetOptions, openDataset } from '../open/open-dataset.ts';
import type { OpenedModel } from '../open/open-model.ts';

export interface NeuronGroups {
  layer: string;
  /** K unit-length channel vectors. */
  directions: number[][];
  /** Each group's share of the factorization (Σ of its amounts over all positions, normalized). */
  shares: number[];
  /** Channels with the largest weight in each group (up to 5). */
  topChannels: number[][];
  images: number;
  relativeError: number;
}

export async function neuronGroups(
  m: OpenedModel,
  layerName: string,
  k: number,
  o: { dataset?: string; datasetOptions?: OpenDatasetOptions; count?: number; seed?: number },
): Promise<NeuronGroups> {
  if (!(Number.isInteger(k) && k >= 1 && k <= 32))
    throw new Error(`--groups must be an integer 1–32, got ${k}`);
  const layer = findLayer(m.model, layerName);
  if (!layer) throw new Error(`--layer ${layerName}: no such layer in ${m.source}`);
  const shape = (layer.outputShape as number[]).slice(1);
  const C = shape[shape.length - 1];
  const d = await openDataset(o.dataset, m, o.datasetOptions ?? {});
  const count = Math.min(o.count ?? 32, d.count);
  // An even spread over the dataset, not its first images (often one class).
  const idx = Array.from({ length: count }, (_, i) => Math.floor((i * d.count) / count));
  const chunk = await d.read(idx);
  const probe = tf.model({ inputs: m.model.inputs, outputs: layer.output as tf.SymbolicTensor });
  const rows: Float32Array[] = [];
  const [h, w, c] = m.inputShape;
  const all = Array.from({ length: chunk.set.count }, (_, i) => i);
  for (const b of batchIterator(chunk.set, all, 16, { preprocess: m.preprocess })) {
    const y = tf.tidy(() => probe.predict(tf.tensor4d(b.x, [b.size, h, w, c])) as tf.Tensor);
    rows.push((await y.data()) as Float32Array);
    y.dispose();
  }
  const n = rows.reduce((s, r) => s + r.length, 0) / C;
  const v = new Float64Array(n * C);
  let o2 = 0;
  for (const r of rows) {
    v.set(r, o2);
    o2 += r.length;
  }
  let lo = 0;
  for (const x of v) lo = Math.min(lo, x);
  if (lo < 0) for (let i = 0; i < v.length; i++) v[i] -= lo;
  const f = nmf(v, n, C, k, { seed: o.seed ?? 0, iterations: 200 });
  // A group's share: Σ over positions of its amount × its vector's length (what it adds to W·H).
  const norms = Array.from({ length: k }, (_, j) =>
    Math.hypot(...Array.from(f.h.subarray(j * C, (j + 1) * C))),
  );
  const mass = Array.from({ length: k }, (_, j) => {
    let s = 0;
    for (let p = 0; p < n; p++) s += f.w[p * k + j];
    return s * norms[j];
  });
  const total = mass.reduce((a, b) => a + b, 0) || 1;
  const directions = Array.from({ length: k }, (_, j) =>
    Array.from(f.h.subarray(j * C, (j + 1) * C), (x) => x / (norms[j] || 1)),
  );
  return {
    layer: layer.name,
    directions,
    shares: mass.map((x) => Number((x / total).toPrecision(4))),
    topChannels: directions.map((dir) =>
      dir
        .map((x, i) => [x, i])
        .sort((a, b) => b[0] - a[0])
        .slice(0, 5)
        .map(([, i]) => i),
    ),
    images: chunk.set.count,
    relativeError: Number(f.relativeError.toPrecision(4)),
  };
}
