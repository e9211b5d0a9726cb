/**
 * Same seed + same backend + same thread count → bit-identical weights: two seeded trainings of pw11
 * (dropout .25/.5, shuffled batches) compared byte for byte, on wasm and on the native oneDNN kernels.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { dropoutLayers, withDropoutSeeds } from '@convlens/core/train/dropout-seed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadNative,
  nativeCalls,
  registerNativeKernels,
  unregisterNativeKernels,
} from '../src/engine/native.ts';
import { trainCommand } from '../src/tasks/train.ts';
import { writeQuadrantDataset } from './cli-helpers.ts';

let root: string;
let data: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'convlens-seed-'));
  data = await writeQuadrantDataset(join(root, 'quad'), 1024, 64);
  await initBackend('wasm');
});

afterAll(async () => {
  unregisterNativeKernels();
  await rm(root, { recursive: true, force: true });
});

const sha = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

/** One epoch of pw11 on 768 images; the weights' and optimizer state's hashes and held-out accuracy. */
async function train(name: string, seed: number) {
  const out = join(root, name);
  const summary = await trainCommand(
    {
      model: 'pw11',
      dataset: data,
      download: false,
      epochs: 1,
      batchSize: 32,
      optimizer: 'adam',
      valSplit: 0.25,
      seed,
      out,
      backend: 'wasm',
    },
    () => {},
  );
  return {
    weights: await sha(join(out, 'model', 'weights.bin')),
    optimizer: await sha(join(out, 'checkpoints', 'last', 'optimizer.bin')),
    accuracy: summary.heldOut?.accuracy,
  };
}

describe('seeded dropout', () => {
  it('draws one mask per (seed, epoch, batch, layer): repeatable, and new at every step', () => {
    const model = tf.sequential({
      layers: [tf.layers.dropout({ inputShape: [64], rate: 0.5 }), tf.layers.dropout({ rate: 0.5 })],
    });
    const layers = dropoutLayers(model);
    expect(layers).toHaveLength(2);
    const x = tf.ones([4, 64]);
    const mask = (seed: number, epoch: number, batch: number) =>
      withDropoutSeeds(layers, seed, epoch, batch, () =>
        tf.tidy(() => Array.from((model.apply(x, { training: true }) as tf.Tensor).dataSync())),
      );
    expect(mask(1, 0, 5)).toEqual(mask(1, 0, 5));
    expect(mask(1, 0, 5)).not.toEqual(mask(1, 0, 6));
    expect(mask(1, 0, 5)).not.toEqual(mask(1, 1, 5));
    expect(mask(1, 0, 5)).not.toEqual(mask(2, 0, 5));
    // The layers' own seeds (saved in model.json) are back afterwards.
    expect(layers.map((l) => l.seed)).toEqual([undefined, undefined]);
    x.dispose();
    model.dispose();
  });
});

describe('same seed, same backend, same threads → the same weights', () => {
  it('wasm: two seeded trainings are bit-identical; another seed differs', async () => {
    const a = await train('wasm-a', 3);
    const b = await train('wasm-b', 3);
    expect(b).toEqual(a);
    const c = await train('wasm-c', 4);
    expect(c.weights).not.toBe(a.weights);
  }, 120_000);

  it.skipIf(!loadNative().ok)(
    'native oneDNN kernels: two seeded trainings are bit-identical',
    async () => {
      expect(registerNativeKernels().ok).toBe(true);
      const calls = () => Object.values(nativeCalls()).reduce((s, n) => s + n, 0);
      const before = calls();
      const a = await train('native-a', 3);
      expect(calls()).toBeGreaterThan(before); // the conv and matmul steps did run natively
      const b = await train('native-b', 3);
      expect(b).toEqual(a);
      unregisterNativeKernels();
    },
    120_000,
  );
});
