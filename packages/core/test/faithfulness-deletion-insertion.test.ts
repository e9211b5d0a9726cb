import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import {
  auc,
  deletionInsertion,
  randomOrder,
  rankPixels,
} from '../src/methods/faithfulness/deletion-insertion.ts';

/** Score = Σ w·x on a 4×4 gray image (dense(1), linear): the known function to delete from. */
function linearModel(w: number[]): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.flatten({ inputShape: [4, 4, 1] }));
  m.add(tf.layers.dense({ units: 1, useBias: false, weights: [tf.tensor2d(w, [16, 1])] }));
  return m;
}

describe('deletion and insertion curves', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('trapezoid AUC of known curves', () => {
    expect(auc([1, 0])).toBeCloseTo(0.5, 6);
    expect(auc([1, 1, 1])).toBeCloseTo(1, 6);
    expect(auc([0, 1, 1])).toBeCloseTo(0.75, 6);
  });

  it('gives the exact curve of a linear model and beats a random order with the true ranking', async () => {
    const w = Array.from({ length: 16 }, (_, i) => (i + 1) / 16);
    const model = linearModel(w);
    const image = tf.ones([4, 4, 1]) as tf.Tensor3D;
    const map = Float32Array.from(w); // attribution = w·x, the exact contribution of each pixel
    const order = rankPixels(map);
    expect(order[0]).toBe(15);
    const c = await deletionInsertion(model, image, 0, order, { steps: 16, batch: 5 });
    // After k deletions the score is the sum of the 16−k smallest weights.
    const total = w.reduce((a, b) => a + b, 0);
    let removed = 0;
    for (let k = 0; k <= 16; k++) {
      expect(c.deletion[k]).toBeCloseTo(total - removed, 4);
      expect(c.insertion[k]).toBeCloseTo(removed, 4);
      if (k < 16) removed += w[15 - k];
    }
    const r = await deletionInsertion(model, image, 0, randomOrder(16, 7), { steps: 16 });
    const worst = await deletionInsertion(model, image, 0, rankPixels(map.map((v) => -v)), { steps: 16 });
    expect(c.deletionAuc).toBeLessThan(r.deletionAuc);
    expect(r.deletionAuc).toBeLessThan(worst.deletionAuc);
    expect(c.insertionAuc).toBeGreaterThan(r.insertionAuc);
    // With fill 0 a linear score splits exactly: removed part + kept part = full score at every step.
    for (let k = 0; k <= 16; k++) expect(c.deletion[k] + c.insertion[k]).toBeCloseTo(total, 4);
    image.dispose();
    model.dispose();
  });

  it('rejects a mismatched order and does not leak tensors', async () => {
    const model = linearModel(Array(16).fill(1));
    const image = tf.ones([4, 4, 1]) as tf.Tensor3D;
    await expect(deletionInsertion(model, image, 0, new Uint32Array(3))).rejects.toThrow(/3 entries/);
    await deletionInsertion(model, image, 0, randomOrder(16, 1), { steps: 4 });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await deletionInsertion(model, image, 0, randomOrder(16, i), { steps: 4 });
    expect(tf.memory().numTensors).toBe(before);
    image.dispose();
    model.dispose();
  });
});
