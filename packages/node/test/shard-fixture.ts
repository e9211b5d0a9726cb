/**
 * Fixtures of the shard tests: a seeded tiny conv net (16×16×1 → 4 classes, softmax over 'logits'),
 * saved as a tfjs model and opened like any model, and a class-folder dataset of quadrant images
 * (noise plus one bright quadrant per class) as PNG files.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '@convlens/core/engine/backend';
import sharp from 'sharp';
import { saveModel } from '../src/io/model-io.ts';
import { quadrantImages } from './cli-helpers.ts';

export function shardTinyModel(seed = 1): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed * 10 + s });
  const input = tf.input({ shape: [16, 16, 1] });
  let x = tf.layers
    .conv2d({
      filters: 6,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'conv1',
      kernelInitializer: init(1),
    })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({ filters: 8, kernelSize: 3, activation: 'relu', name: 'conv2', kernelInitializer: init(2) })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 4, name: 'logits', kernelInitializer: init(3) }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.activation({ activation: 'softmax', name: 'probs' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'tiny' });
}

/** Saves the tiny model (seeded) into `dir`. */
export async function writeTinyModel(dir: string, seed = 1): Promise<string> {
  const m = shardTinyModel(seed);
  await saveModel(m, dir);
  m.dispose();
  return dir;
}

/** `n` quadrant images as ROOT/<class>/<nnnn>.png (classes 0–3); returns the pixels in listing order. */
export async function writeQuadrantFolder(root: string, n: number, seed = 7): Promise<Uint8Array> {
  const q = quadrantImages(n, seed);
  for (let c = 0; c < 4; c++) await mkdir(join(root, String(c)), { recursive: true });
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => q.labels[a] - q.labels[b] || a - b);
  const listed = new Uint8Array(n * 256);
  for (const [k, i] of order.entries()) {
    const bytes = q.images.subarray(i * 256, (i + 1) * 256);
    listed.set(bytes, k * 256);
    await sharp(Buffer.from(bytes), { raw: { width: 16, height: 16, channels: 1 } })
      .png()
      .toFile(join(root, String(q.labels[i]), `${String(i).padStart(4, '0')}.png`));
  }
  return listed;
}
