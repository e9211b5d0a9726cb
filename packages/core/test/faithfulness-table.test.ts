import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { getExplainMethod } from '../src/methods/explain/registry.ts';
import type { ExplainMethod } from '../src/methods/explain/types.ts';
import { faithfulnessTable, predictedClasses } from '../src/methods/faithfulness/table.ts';
import { quadrants } from './helpers/quadrants.ts';

/** Class 0 ⇔ the top-left quadrant of a 16×16 image is bright (as in the ROAD test). */
function topLeftModel(): tf.LayersModel {
  const w = new Float32Array(256 * 2);
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) w[(y * 16 + x) * 2] = 20 / 64;
  const m = tf.sequential();
  m.add(tf.layers.flatten({ inputShape: [16, 16, 1] }));
  m.add(
    tf.layers.dense({
      units: 2,
      activation: 'softmax',
      weights: [tf.tensor2d(w, [256, 2]), tf.tensor1d([-10, 0])],
    }),
  );
  return m;
}

/** A map that points at the bottom-right quadrant, which the model never reads. */
const wrong: ExplainMethod = {
  id: 'wrong',
  title: 'Wrong',
  description: 'points away from the evidence',
  needsLayer: false,
  async explain(req) {
    const n = req.input.shape[0];
    const m = new Float32Array(256);
    for (let y = 8; y < 16; y++) for (let x = 8; x < 16; x++) m[y * 16 + x] = 1 + ((y * 16 + x) % 5);
    return {
      method: 'wrong',
      maps: Array.from({ length: n }, () => m.slice()),
      height: 16,
      width: 16,
      signed: false,
      targets: new Array(n).fill(0),
      warnings: Array.from({ length: n }, () => []),
      meta: {},
    };
  },
};

const broken: ExplainMethod = {
  id: 'broken',
  title: 'Broken',
  description: 'always fails',
  needsLayer: false,
  async explain() {
    throw new Error('no luck\nsecond line');
  },
};

describe('faithfulness table', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('ranks a map on the evidence above a map off it, against the random baseline; no leak', async () => {
    const model = topLeftModel();
    const set = quadrants(40, 3, 16, 1);
    const picks = Array.from(set.y.keys())
      .filter((i) => set.y[i] === 0)
      .slice(0, 5);
    const x = tf.tensor4d(
      Float32Array.from(picks.flatMap((i) => Array.from(set.x.subarray(i * 256, (i + 1) * 256)))),
      [picks.length, 16, 16, 1],
    );
    expect(await predictedClasses(model, x, 2)).toEqual(picks.map(() => 0));
    const methods = [wrong, broken, getExplainMethod('gradient-x-input')];
    const progress: number[] = [];
    const run = () =>
      faithfulnessTable(model, x, methods, {
        steps: 8,
        explainBatch: 2,
        road: { fractions: [0.2, 0.5, 0.8] },
        randomization: { count: 2 },
        onProgress: (p) => progress.push(p.done),
      });
    const t = await run();
    expect(t.count).toBe(picks.length);
    expect(t.targets).toEqual(picks.map(() => 0));
    expect(t.rows.map((r) => r.method)).toEqual(['gradient-x-input', 'wrong', 'broken']);
    const [gxi, off, failed] = t.rows;
    expect(gxi.deletionAuc).toBeLessThan(t.random.deletionAuc);
    expect(gxi.insertionAuc).toBeGreaterThan(t.random.insertionAuc);
    expect(off.deletionAuc).toBeGreaterThan(t.random.deletionAuc);
    for (const r of [gxi, off]) {
      for (const v of [r.deletionAuc, r.insertionAuc]) expect(v >= 0 && v <= 1).toBe(true);
      expect(r.road?.meanMorf).toHaveLength(3);
      expect(r.sanity?.steps).toHaveLength(1);
    }
    expect(gxi.road!.morfAuc).toBeLessThan(t.random.road!.morfAuc);
    expect(gxi.road!.gap).toBeGreaterThan(off.road!.gap);
    // A fixed map ignores the weights entirely: the sanity check flags it.
    expect(off.sanity!.flagged).toBe(true);
    expect(gxi.sanity!.flagged).toBe(false);
    expect(failed.error).toBe('no luck');
    expect(progress.at(-1)).toBe(4 * picks.length);

    const before = tf.memory().numTensors;
    await run();
    expect(tf.memory().numTensors).toBe(before);
    await expect(faithfulnessTable(model, x, [broken], { stopOnError: true })).rejects.toThrow(/no luck/);
    x.dispose();
    model.dispose();
  });
});
