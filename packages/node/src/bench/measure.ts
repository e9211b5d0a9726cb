/**
 * convlens's own throughput on the lab CNN (pw11, 28×28×1, random data), measured the way the
 * PyTorch peer measures it: forward (batch 256), training with Adam (batch 128), gradient of the top
 * logit w.r.t. the input (batch 64). Each number is the median of timed repetitions after warm-up.
 */

import { tf } from '@convlens/core/engine/backend';
import { buildModel } from '@convlens/core/models/build';
import { logitsModel } from '@convlens/core/models/logits';
import { trainModel } from '@convlens/core/train/loop';
import { makeOptimizer } from '@convlens/core/train/optimizers';
import { measureActmax } from './actmax.ts';
import { measureStats } from './stats.ts';

export interface ConvlensBench {
  backend: string;
  forward_img_s: number;
  train_img_s: number;
  input_grad_img_s: number;
  /** Act-max steps per second, 10 classes in one batch (256 steps). */
  actmax_steps_s: number;
  /** Dataset statistics (every layer: class means and maps, mode maps, top-9), images per second. */
  stats_img_s: number;
  /** stats_img_s / forward_img_s: what the statistics cost over plain inference. */
  stats_vs_forward: number;
}

export interface MeasureOptions {
  /** Timed repetitions per measure (median reported). */
  reps: number;
  /** Warm-up repetitions (kernel setup, weight packing, JIT). */
  warmup: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function timed(fn: () => Promise<void>, opts: MeasureOptions): Promise<number> {
  for (let i = 0; i < opts.warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < opts.reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  return median(times);
}

function randomImages(n: number): tf.Tensor4D {
  return tf.randomUniform([n, 28, 28, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
}

export async function measureForward(model: tf.LayersModel, opts: MeasureOptions): Promise<number> {
  const x = randomImages(256);
  const t = await timed(async () => {
    const y = model.predict(x) as tf.Tensor;
    await y.data();
    y.dispose();
  }, opts);
  x.dispose();
  return 256 / t;
}

/** Training throughput of the product's own loop (trainModel), one batch per repetition. */
export async function measureTraining(model: tf.LayersModel, opts: MeasureOptions): Promise<number> {
  const n = 128;
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) x[i] = Math.random();
  const y = new Uint8Array(n).map((_, i) => i % 10);
  const optimizer = makeOptimizer({ name: 'adam', learningRate: 1e-3 });
  let epochs = 0;
  const t = await timed(async () => {
    epochs++;
    await trainModel(model, {
      optimizer,
      epochs,
      startEpoch: epochs - 1,
      trainBatches: () => [{ x, y, size: n }],
    });
  }, opts);
  optimizer.dispose();
  return n / t;
}

export async function measureInputGradient(model: tf.LayersModel, opts: MeasureOptions): Promise<number> {
  const net = logitsModel(model);
  const x = randomImages(64);
  // d(top logit)/d(input), weights frozen: what saliency and Grad-CAM-style methods need.
  const grad = tf.grad((inp: tf.Tensor) =>
    tf.sum(tf.max(net.apply(inp, { training: false }) as tf.Tensor, 1)),
  );
  const t = await timed(async () => {
    const g = grad(x);
    await g.data();
    g.dispose();
  }, opts);
  x.dispose();
  return 64 / t;
}

export async function measureConvlens(opts: MeasureOptions): Promise<ConvlensBench> {
  const model = buildModel('pw11', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
  const forward = await measureForward(model, opts);
  const train = await measureTraining(model, opts);
  const inputGrad = await measureInputGradient(model, opts);
  const actmax = await measureActmax(model);
  const stats = await measureStats(model);
  model.dispose();
  return {
    backend: tf.getBackend(),
    forward_img_s: round1(forward),
    train_img_s: round1(train),
    input_grad_img_s: round1(inputGrad),
    actmax_steps_s: round1(actmax),
    stats_img_s: round1(stats),
    stats_vs_forward: Math.round((stats / forward) * 1000) / 1000,
  };
}

export function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
