/**
 * Reproducible dropout. An unseeded tfjs dropout draws its mask from Math.random, and a seeded one
 * draws the same mask at every step; so for each training step every dropout layer gets its own seed
 * mixed from (run seed, epoch, batch, layer), then its original seed back (it is saved in model.json).
 * A resumed run draws the same masks as an uninterrupted one.
 */
import type * as tf from '@tensorflow/tfjs';
import { mixSeed } from '../data/rng.ts';

/** tfjs layers whose call() passes `this.seed` on to their random op (Dropout and its subclasses). */
const SEEDED_CLASSES = new Set(['Dropout', 'SpatialDropout1D']);

interface SeedableLayer {
  seed?: number;
}

/** Every dropout layer of a model, nested models included, in a fixed (layer) order. */
export function dropoutLayers(model: tf.LayersModel): SeedableLayer[] {
  const out: SeedableLayer[] = [];
  const visit = (layers: tf.layers.Layer[]) => {
    for (const l of layers) {
      const nested = (l as unknown as { layers?: tf.layers.Layer[] }).layers;
      if (Array.isArray(nested)) visit(nested);
      else if (SEEDED_CLASSES.has(l.getClassName())) out.push(l as unknown as SeedableLayer);
    }
  };
  visit(model.layers);
  return out;
}

/**
 * Runs `step` with every dropout layer seeded from (seed, epoch, batch, its index), then restores
 * their own seeds. tfjs treats seed 0 as "unseeded", hence the `|| 1`.
 */
export function withDropoutSeeds<T>(
  layers: SeedableLayer[],
  seed: number,
  epoch: number,
  batch: number,
  step: () => T,
): T {
  if (layers.length === 0) return step();
  const saved = layers.map((l) => l.seed);
  layers.forEach((l, i) => {
    l.seed = mixSeed(seed, epoch, batch, i, 0xd1) || 1;
  });
  try {
    return step();
  } finally {
    layers.forEach((l, i) => {
      l.seed = saved[i];
    });
  }
}
