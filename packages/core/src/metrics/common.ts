/**
 * Plumbing shared by the metrics: checked access to what a metric needs, batched forward passes over
 * many perturbed copies of the inputs, pixel rankings, and the result shape.
 */
import * as tf from '@tensorflow/tfjs';
import { scores as logitScores } from '../methods/explain/common.ts';
import type { MetricContext, MetricResult, Reexplain } from './types.ts';

/** Mean of the non-NaN values; NaN when there are none. */
export function meanOf(values: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++)
    if (!Number.isNaN(values[i])) {
      s += values[i];
      n++;
    }
  return n ? s / n : Number.NaN;
}

export function resultOf(metric: string, values: number[], detail?: Record<string, unknown>): MetricResult {
  return { metric, values, mean: meanOf(values), ...(detail ? { detail } : {}) };
}

/** Shapes checked once: N inputs, maps of H·W, one target each. */
export function dims(ctx: MetricContext, id: string): { N: number; H: number; W: number; C: number } {
  const [N, H, W, C] = ctx.input.shape;
  if (ctx.targets.length !== N) throw new Error(`${id}: ${ctx.targets.length} targets for ${N} inputs`);
  if (ctx.maps.length !== N) throw new Error(`${id}: ${ctx.maps.length} maps for ${N} inputs`);
  for (const m of ctx.maps)
    if (m.length !== H * W)
      throw new Error(`${id}: a map has ${m.length} values, the input has ${H * W} pixels`);
  return { N, H, W, C };
}

export function needModel(ctx: MetricContext, id: string): tf.LayersModel {
  if (!ctx.model) throw new Error(`${id} needs the model`);
  return ctx.model;
}

export function needExplain(ctx: MetricContext, id: string): Reexplain {
  if (!ctx.explain) throw new Error(`${id} needs a re-explain function (explainerOf)`);
  return ctx.explain;
}

export function needRegions(ctx: MetricContext, id: string): Uint8Array[] {
  const r = ctx.regions;
  if (!r) throw new Error(`${id} needs a ground-truth region per input`);
  if (r.length !== ctx.maps.length) throw new Error(`${id}: ${r.length} regions for ${ctx.maps.length} maps`);
  for (const m of r)
    if (m.length !== ctx.maps[0].length)
      throw new Error(`${id}: a region has ${m.length} pixels, the maps have ${ctx.maps[0].length}`);
  return r;
}

/** Which score a metric reads: the model's output (probabilities for softmax models) or its logits. */
export type ScoreKind = 'output' | 'logits';

/**
 * Target scores of `count` images stored back to back in `frames` (each H·W·C), image k scored for
 * target `targetOf(k)`, `batch` images per forward pass. 'logits' reads the model's pre-softmax scores
 * (what gradient methods explain; the output itself when there are none).
 */
export async function targetScores(
  model: tf.LayersModel,
  frames: Float32Array,
  count: number,
  shape: [number, number, number],
  targetOf: (k: number) => number,
  opts: { batch?: number; score?: ScoreKind } = {},
): Promise<Float32Array> {
  const [H, W, C] = shape;
  const size = H * W * C;
  const batch = opts.batch ?? 64;
  const out = new Float32Array(count);
  for (let s = 0; s < count; s += batch) {
    const n = Math.min(batch, count - s);
    const y = tf.tidy(() => {
      const xs = tf.tensor4d(frames.subarray(s * size, (s + n) * size), [n, H, W, C]);
      const o =
        opts.score === 'logits'
          ? logitScores(model, xs)
          : (model.apply(xs, { training: false }) as tf.Tensor2D);
      // Row k's target read from the flattened scores (oneHot needs at least 2 classes).
      const k = o.shape[1];
      const at = tf.tensor1d(
        Array.from({ length: n }, (_, j) => j * k + targetOf(s + j)),
        'int32',
      );
      return tf.gather(tf.reshape(o, [-1]), at);
    });
    out.set((await y.data()) as Float32Array, s);
    y.dispose();
  }
  return out;
}

/** The model's scores for every class of each input: [N][classes]. */
export async function allScores(
  model: tf.LayersModel,
  input: tf.Tensor4D,
  opts: { batch?: number; score?: ScoreKind } = {},
): Promise<Float32Array[]> {
  const batch = opts.batch ?? 64;
  const N = input.shape[0];
  const rows: Float32Array[] = [];
  for (let s = 0; s < N; s += batch) {
    const n = Math.min(batch, N - s);
    const y = tf.tidy(() => {
      const xs = tf.slice(input, [s, 0, 0, 0], [n, -1, -1, -1]);
      return opts.score === 'logits'
        ? logitScores(model, xs)
        : (model.apply(xs, { training: false }) as tf.Tensor2D);
    });
    const v = (await y.data()) as Float32Array;
    const k = y.shape[1];
    y.dispose();
    for (let i = 0; i < n; i++) rows.push(v.slice(i * k, (i + 1) * k));
  }
  return rows;
}

/** How pixels are ranked: by signed value (most positive first) or by magnitude. */
export type RankBy = 'signed' | 'abs';

/**
 * Pixel indices by decreasing relevance; NaN ranks last; ties keep index order (a stable order).
 * 'abs' ranks by |a| (strong negative evidence counts as relevant too).
 */
export function rankOrder(map: Float32Array, by: RankBy = 'signed'): Uint32Array {
  const key = new Float32Array(map.length);
  for (let i = 0; i < map.length; i++) {
    const v = map[i];
    key[i] = Number.isNaN(v) ? Number.NEGATIVE_INFINITY : by === 'abs' ? Math.abs(v) : v;
  }
  const idx = Uint32Array.from(key.keys());
  return idx.sort((a, b) => key[b] - key[a] || a - b);
}

/** Images of the batch as one flat HWC array, read once. */
export async function pixelsOf(input: tf.Tensor4D): Promise<Float32Array> {
  return (await input.data()) as Float32Array;
}

/**
 * A buffer of perturbed copies that flushes to the model every `batch` images: metrics push images
 * one at a time without holding thousands of MobileNet inputs in memory.
 */
export class ScoreQueue {
  private data: Float32Array;
  private count = 0;
  private at = 0;
  private readonly size: number;
  readonly scores: number[] = [];
  private readonly targets: number[] = [];

  constructor(
    private readonly model: tf.LayersModel,
    private readonly shape: [number, number, number],
    private readonly opts: { batch?: number; score?: ScoreKind } = {},
  ) {
    this.size = shape[0] * shape[1] * shape[2];
    this.data = new Float32Array((opts.batch ?? 64) * this.size);
  }

  /** Queues one image (copied) scored for `target`; its score lands at scores[index]. Returns index. */
  async push(image: Float32Array, target: number): Promise<number> {
    this.data.set(image, this.count * this.size);
    this.targets.push(target);
    this.count++;
    const index = this.at + this.count - 1;
    if (this.count * this.size === this.data.length) await this.flush();
    return index;
  }

  async flush(): Promise<number[]> {
    if (this.count > 0) {
      const base = this.at;
      const s = await targetScores(
        this.model,
        this.data,
        this.count,
        this.shape,
        (k) => this.targets[base + k],
        {
          ...this.opts,
          batch: this.count,
        },
      );
      for (const v of s) this.scores.push(v);
      this.at += this.count;
      this.count = 0;
    }
    return this.scores;
  }
}

/** Standard normal sample (Box–Muller). */
export function gaussian(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}
