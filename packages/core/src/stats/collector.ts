/**
 * Streams batches through one probe pass and folds them into every statistic. The reductions that
 * touch whole activation tensors (means and peaks over positions, argmax over channels, per-class
 * sums as a one-hot × activations matmul) run on the engine; only small results come back to JS,
 * so memory is bounded by the accumulators whatever the dataset size.
 */
import * as tf from '@tensorflow/tfjs';
import { modelFingerprint } from '../inspect/fingerprint.ts';
import { type ProbedLayer, probeTensors, resolveProbeLayers } from '../inspect/probe.ts';
import { type Box, clipBox, type LayerField, receptiveFields, unitBox } from '../inspect/receptive-field.ts';
import { addClassMapSums, createClassMaps } from './class-maps.ts';
import { addClassMeans, createClassMeans } from './class-means.ts';
import type { DatasetStats, LayerStats, StatsMeta } from './dataset-stats.ts';
import { addModeCounts, createModeCounts } from './mode-maps.ts';
import { createTopK, insertTop, qualifies } from './top-k.ts';

const CONV_CLASSES: ReadonlySet<string> = new Set([
  'Conv2D',
  'DepthwiseConv2D',
  'SeparableConv2D',
  'Conv2DTranspose',
]);

export interface CollectOptions {
  numClasses: number;
  /** Layers to probe (default: every conv, pool and dense layer). */
  layers?: string[];
  /** Layers to keep mode maps for (default: every probed conv layer); each must be spatial. */
  modeLayers?: string[];
  /** Keep per-class mean feature maps of conv layers and of the mode-map layers (default true). */
  classMaps?: boolean;
  /** Top-k images per filter (default 9). */
  k?: number;
  /** Dataset identity and sharding, recorded for merging. */
  source: Pick<StatsMeta, 'dataset' | 'datasetSize' | 'shardCount' | 'shards' | 'classNames'>;
  /** Input bytes under a box of a dataset image (box height × width × channels), for top-k patches. */
  crop?: (image: number, box: Box) => Uint8Array;
}

export interface StatsBatch {
  /** size × H × W × C floats, preprocessed as the model expects. */
  x: Float32Array;
  y: ArrayLike<number>;
  size: number;
  /** Dataset index of each image. */
  indices: ArrayLike<number>;
}

interface Plan {
  layer: ProbedLayer;
  field: LayerField;
  stats: LayerStats;
}

export class StatsCollector {
  readonly layers: ProbedLayer[];
  private readonly plans: Plan[];
  private readonly meta: StatsMeta;
  private readonly inShape: [number, number, number];
  private count = 0;

  constructor(
    private readonly model: tf.LayersModel,
    private readonly opts: CollectOptions,
  ) {
    this.layers = resolveProbeLayers(model, opts.layers);
    // By default mode maps and mean maps are kept for conv layers (the lab's definition); any
    // other spatial layer (a pool) can be asked for by name.
    const conv = (l: ProbedLayer) => l.spatial && CONV_CLASSES.has(l.className);
    const modeNames = opts.modeLayers ?? this.layers.filter(conv).map((l) => l.name);
    for (const name of modeNames) {
      const l = this.layers.find((x) => x.name === name);
      if (!l) {
        throw new Error(
          `mode maps: layer '${name}' is not among the probed layers (${this.layers.map((x) => x.name).join(', ')})`,
        );
      }
      if (!l.spatial) {
        throw new Error(
          `mode maps: layer '${name}' has no spatial output (shape [${l.shape}]); pick a conv or pool layer`,
        );
      }
    }
    const fields = new Map(receptiveFields(model).map((f) => [f.layer, f]));
    const K = opts.numClasses;
    const k = opts.k ?? 9;
    this.plans = this.layers.map((layer) => {
      const filters = layer.shape[layer.shape.length - 1];
      const [h, w] = layer.shape;
      const stats: LayerStats = {
        layer,
        means: createClassMeans(K, filters),
        maps:
          opts.classMaps !== false && (conv(layer) || (layer.spatial && modeNames.includes(layer.name)))
            ? createClassMaps(K, h, w, filters)
            : undefined,
        modes: modeNames.includes(layer.name) ? createModeCounts(K, h, w, filters) : undefined,
        topk: createTopK(k, filters),
      };
      return { layer, field: fields.get(layer.name)!, stats };
    });
    this.inShape = (model.inputs[0].shape as number[]).slice(1) as [number, number, number];
    this.meta = {
      model: { name: model.name, fingerprint: modelFingerprint(model) },
      inputShape: this.inShape,
      numClasses: K,
      ...opts.source,
    };
  }

  async add(batch: StatsBatch): Promise<void> {
    const n = batch.size;
    const K = this.opts.numClasses;
    const counts = new Float32Array(K);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = batch.y[i];
      if (!(c >= 0 && c < K)) throw new Error(`label ${c} out of range for ${K} classes`);
      counts[c]++;
      labels[i] = c;
    }
    const single = n > 0 && counts[labels[0]] === n;
    const outs = tf.tidy(() => {
      const x = tf.tensor4d(batch.x.subarray(0, n * this.inShape[0] * this.inShape[1] * this.inShape[2]), [
        n,
        ...this.inShape,
      ]);
      const acts = probeTensors(this.model, this.layers, x);
      const ids = tf.tensor1d(labels, 'int32');
      return this.plans.map(({ layer, stats }, i) => {
        const a = acts[i];
        if (!layer.spatial) return { mean: a, peak: a };
        const [h, w, c] = layer.shape;
        const a4 = a as tf.Tensor4D;
        // Whole-map pooling is NHWC-native (no transpose): far cheaper than mean/max over axis 1.
        // Per-class sums: a batch of one class (see classOrderedBatches) is one average pool over
        // the batch axis; a mixed batch takes a segment sum (a one-hot matmul repacks the whole
        // activation tensor on every call, and slicing per class is slower still).
        return {
          act: a,
          mean: tf.reshape(tf.avgPool(a4, [h, w], 1, 'valid'), [n, c]),
          peak: tf.reshape(tf.maxPool(a4, [h, w], 1, 'valid'), [n, c]),
          mode: stats.modes ? tf.argMax(a, 3) : undefined,
          maps: !stats.maps
            ? undefined
            : single
              ? tf.mul(
                  tf.reshape(tf.avgPool(tf.reshape(a, [1, n, h * w, c]) as tf.Tensor4D, [n, 1], 1, 'valid'), [
                    1,
                    h * w * c,
                  ]),
                  n,
                )
              : tf.unsortedSegmentSum(tf.reshape(a, [n, h * w * c]), ids, K),
        };
      });
    });
    try {
      const read = async (t?: tf.Tensor) => (t ? t.data() : undefined);
      for (let i = 0; i < this.plans.length; i++) {
        const { layer, field, stats } = this.plans[i];
        const o = outs[i];
        const [mean, peak, mode, maps] = await Promise.all([
          read(o.mean),
          read(o.peak),
          read(o.mode),
          read(o.maps),
        ]);
        addClassMeans(stats.means, mean as Float32Array, batch.y, n);
        if (stats.maps) {
          if (single) addClassMapSums(stats.maps, maps as Float32Array, counts, labels[0]);
          else addClassMapSums(stats.maps, maps as Float32Array, counts);
        }
        if (stats.modes) addModeCounts(stats.modes, mode as Int32Array, batch.y, n);
        await this.addTop(layer, field, stats, peak as Float32Array, o.act, batch);
      }
    } finally {
      for (const o of outs) for (const t of Object.values(o)) if (t && !t.isDisposed) t.dispose();
    }
    this.count += n;
  }

  /**
   * Top-k update. Peak positions are only computed for the images that have a candidate entry
   * (after the first batches, few do), by an argmax over positions of just those images.
   */
  private async addTop(
    layer: ProbedLayer,
    field: LayerField,
    stats: LayerStats,
    peak: Float32Array,
    act: tf.Tensor | undefined,
    batch: StatsBatch,
  ): Promise<void> {
    const F = stats.topk.filters;
    const candidates: number[] = [];
    for (let i = 0; i < batch.size; i++) {
      const image = batch.indices[i];
      for (let f = 0; f < F; f++) {
        if (qualifies(stats.topk, f, peak[i * F + f], image)) {
          candidates.push(i);
          break;
        }
      }
    }
    if (candidates.length === 0) return;
    let pos: Int32Array | undefined;
    const row = new Map<number, number>();
    if (act) {
      const [h, w, c] = layer.shape;
      // Gathering rows is slow on wasm (per element): only worth it when few images have candidates.
      const all = candidates.length * 16 > batch.size;
      const t = tf.tidy(() => {
        const flat = tf.reshape(act, [batch.size, h * w, c]);
        return tf.argMax(all ? flat : tf.gather(flat, tf.tensor1d(candidates, 'int32')), 1);
      });
      pos = (await t.data()) as Int32Array;
      t.dispose();
      candidates.forEach((i, r) => {
        row.set(i, all ? i : r);
      });
    }
    const width = layer.spatial ? layer.shape[1] : 1;
    const [H, W] = this.inShape;
    for (const i of candidates) {
      const image = batch.indices[i];
      for (let f = 0; f < F; f++) {
        const value = peak[i * F + f];
        if (!qualifies(stats.topk, f, value, image)) continue;
        const p = pos ? pos[row.get(i)! * F + f] : 0;
        const y = Math.floor(p / width);
        const x = p % width;
        const box = layer.spatial
          ? clipBox(unitBox(field, y, x), H, W)
          : { y0: 0, x0: 0, y1: H - 1, x1: W - 1 };
        const patch = this.opts.crop?.(image, box);
        insertTop(stats.topk, f, { image, label: batch.y[i], value, y, x, box, ...(patch ? { patch } : {}) });
      }
    }
  }

  result(): DatasetStats {
    return { meta: { ...this.meta }, count: this.count, layers: this.plans.map((p) => p.stats) };
  }
}

/**
 * Orders a dataset's indices by class (stable) and cuts batches at class boundaries, so every
 * batch holds one class: the cheapest case for per-class sums. The statistics do not depend on
 * the order in which images arrive.
 */
export function classOrderedBatches(
  labels: ArrayLike<number>,
  indices: ArrayLike<number>,
  batchSize: number,
): Uint32Array[] {
  const order = Array.from(indices).sort((a, b) => labels[a] - labels[b] || a - b);
  const out: Uint32Array[] = [];
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j < order.length && j - i < batchSize && labels[order[j]] === labels[order[i]]) j++;
    out.push(Uint32Array.from(order.slice(i, j)));
    i = j;
  }
  return out;
}

/** Crops a box out of image `index` of an NHWC uint8 set: the top-k patch source. */
export function cropFromSet(set: { images: Uint8Array; height: number; width: number; channels: number }) {
  return (index: number, box: Box): Uint8Array => {
    const { height: H, width: W, channels: C } = set;
    const bh = box.y1 - box.y0 + 1;
    const bw = box.x1 - box.x0 + 1;
    const out = new Uint8Array(bh * bw * C);
    const base = index * H * W * C;
    for (let y = 0; y < bh; y++) {
      const src = base + ((box.y0 + y) * W + box.x0) * C;
      out.set(set.images.subarray(src, src + bw * C), y * bw * C);
    }
    return out;
  };
}
