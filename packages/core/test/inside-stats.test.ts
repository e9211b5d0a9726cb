import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../src/engine/backend.ts';
import { buildModel } from '../src/models/build.ts';
import { classMeanMap } from '../src/stats/class-maps.ts';
import { classMeanMatrix } from '../src/stats/class-means.ts';
import { classOrderedBatches, cropFromSet, type StatsBatch, StatsCollector } from '../src/stats/collector.ts';
import {
  type DatasetStats,
  mergeStats,
  missingShards,
  shardRange,
  statsFromJSON,
  statsToJSON,
} from '../src/stats/dataset-stats.ts';
import { argmaxChannels, modeMap, pixelHistogram } from '../src/stats/mode-maps.ts';
import { trainModel } from '../src/train/loop.ts';
import { makeOptimizer } from '../src/train/optimizers.ts';
import { batchesOf, quadrants } from './helpers/quadrants.ts';

beforeAll(async () => {
  await initBackend('wasm');
});
const disposables: { dispose(): void }[] = [];
afterAll(() => {
  for (const d of disposables) d.dispose();
});

/**
 * A 1×1 conv with 3 filters, kernels [1, −1, 0.5] and biases [0, 0.5, 0.2], on 2×2 images whose
 * pixels are 0, 0.3 or 1. Per pixel value the winning filter is fixed by hand:
 *   x = 0: (0, 0.5, 0.2) → 1;  x = 0.3: (0.3, 0.2, 0.35) → 2;  x = 1: (1, −0.5, 0.7) → 0.
 */
function handModel(): tf.LayersModel {
  const m = buildModel(
    { name: 'hand', layers: [{ type: 'conv2d', filters: 3, kernel: 1, name: 'conv' }] },
    { inputShape: [2, 2, 1], numClasses: 2, seed: 1 },
  );
  m.getLayer('conv').setWeights([tf.tensor4d([1, -1, 0.5], [1, 1, 1, 3]), tf.tensor1d([0, 0.5, 0.2])]);
  disposables.push(m);
  return m;
}

const HAND_X = [
  [0, 0.3, 1, 1], // class 0 → argmax [1, 2, 0, 0]
  [0, 0, 0.3, 1], // class 0 → [1, 1, 2, 0]
  [1, 1, 1, 0.3], // class 1 → [0, 0, 0, 2]
  [0.3, 0.3, 0, 1], // class 1 → [2, 2, 1, 0]
];
const HAND_Y = [0, 0, 1, 1];

const source = (size: number, shardCount = 1, shards = [0]) => ({
  dataset: 'synthetic',
  datasetSize: size,
  shardCount,
  shards,
});

describe('statistics on a hand-built conv layer', () => {
  it('argmax maps, class means, mode maps with ties, and top-1 equal hand-computed values', async () => {
    const m = handModel();
    const c = new StatsCollector(m, { numClasses: 2, layers: ['conv'], k: 1, source: source(4) });
    await c.add({ x: Float32Array.from(HAND_X.flat()), y: HAND_Y, size: 4, indices: [0, 1, 2, 3] });
    const [conv] = c.result().layers;

    // Class means per filter: f0 = mean x, f1 = 0.5 − mean x, f2 = 0.5·mean x + 0.2;
    // class 0 mean x = (0.575 + 0.325) / 2 = 0.45, class 1 = (0.825 + 0.4) / 2 = 0.6125.
    const means = [...classMeanMatrix(conv.means)];
    const want = [0.45, 0.05, 0.425, 0.6125, -0.1125, 0.50625];
    means.forEach((v, i) => {
      expect(v).toBeCloseTo(want[i], 6);
    });
    expect(conv.means.counts).toEqual([2, 2]);

    // Per-class mean map of filter 0 is the mean image of the class.
    [...classMeanMap(conv.maps!, 0, 0)].forEach((v, i) => {
      expect(v).toBeCloseTo([0, 0.15, 0.65, 1][i], 6);
    });

    // Mode maps: class 0 pixels see argmax {1,1}, {2,1}, {0,2}, {0,0}.
    const m0 = modeMap(conv.modes!, 0);
    expect([...m0.mode]).toEqual([1, 1, 0, 0]);
    expect([...m0.share]).toEqual([1, 0.5, 0.5, 1]);
    expect(m0.tied).toEqual([[1], [1, 2], [0, 2], [0]]);
    const m1 = modeMap(conv.modes!, 1);
    expect(m1.tied).toEqual([
      [0, 2],
      [0, 2],
      [0, 1],
      [0, 2],
    ]);
    expect([...pixelHistogram(conv.modes!, 1, 1, 0)]).toEqual([1, 1, 0]);

    // The pure-JS argmax agrees with the engine's (lowest index on ties).
    const act = HAND_X.flat().flatMap((x) => [x, 0.5 - x, 0.5 * x + 0.2]);
    expect([...argmaxChannels(act, 4, 4, 3)]).toEqual([1, 2, 0, 0, 1, 1, 2, 0, 0, 0, 0, 2, 2, 2, 1, 0]);

    // Top-1: filter 0 peaks at 1 in images 0, 1, 2, 3 → the lowest index wins; first peak at (1, 0).
    const top = conv.topk.entries.map((l) => ({ image: l[0].image, y: l[0].y, x: l[0].x }));
    expect(top).toEqual([
      { image: 0, y: 1, x: 0 },
      { image: 0, y: 0, x: 0 },
      { image: 0, y: 1, x: 0 },
    ]);
    expect(conv.topk.entries[2][0].value).toBeCloseTo(0.7, 6);
    expect(conv.topk.entries[0][0].box).toEqual({ y0: 1, x0: 0, y1: 1, x1: 0 });
  });

  it('refuses mode maps for a layer with no spatial output', () => {
    const m = handModel();
    expect(
      () =>
        new StatsCollector(m, {
          numClasses: 2,
          layers: ['conv', 'logits'],
          modeLayers: ['logits'],
          source: source(4),
        }),
    ).toThrow(/layer 'logits' has no spatial output/);
  });
});

const small = quadrants(64, 9, 12);
const batches = (from: number, to: number, size: number): StatsBatch[] => {
  const out: StatsBatch[] = [];
  const px = 144;
  for (let s = from; s < to; s += size) {
    const e = Math.min(to, s + size);
    out.push({
      x: small.x.slice(s * px, e * px),
      y: small.y.slice(s, e),
      size: e - s,
      indices: Array.from({ length: e - s }, (_, i) => s + i),
    });
  }
  return out;
};
const bytes = {
  images: Uint8Array.from(small.x, (v) => Math.round(v * 255)),
  height: 12,
  width: 12,
  channels: 1,
};

async function collect(
  model: tf.LayersModel,
  from: number,
  to: number,
  shardCount: number,
  shards: number[],
) {
  const c = new StatsCollector(model, {
    numClasses: 4,
    k: 5,
    source: source(64, shardCount, shards),
    crop: cropFromSet(bytes),
  });
  for (const b of batches(from, to, 16)) await c.add(b);
  return c.result();
}

function expectSame(a: DatasetStats, b: DatasetStats) {
  expect(a.count).toBe(b.count);
  expect(a.layers.map((l) => l.layer.name)).toEqual(b.layers.map((l) => l.layer.name));
  a.layers.forEach((x, i) => {
    const y = b.layers[i];
    expect(x.means.counts).toEqual(y.means.counts);
    const close = (p: ArrayLike<number>, q: ArrayLike<number>) => {
      expect(p.length).toBe(q.length);
      let err = 0;
      for (let j = 0; j < p.length; j++) err = Math.max(err, Math.abs(p[j] - q[j]));
      expect(err).toBeLessThan(1e-6);
    };
    close(classMeanMatrix(x.means), classMeanMatrix(y.means));
    if (x.maps) close(x.maps.sums, y.maps!.sums);
    if (x.modes) expect(x.modes.counts).toEqual(y.modes!.counts);
    expect(x.topk.entries).toEqual(y.topk.entries);
  });
}

describe('streaming, mergeable statistics', () => {
  it('two halves merged (through JSON) equal one pass', async () => {
    const m = buildModel('cnn1', { inputShape: [12, 12, 1], numClasses: 4, seed: 2 });
    disposables.push(m);
    const whole = await collect(m, 0, 64, 1, [0]);
    const [s0, e0] = shardRange(64, 0, 2);
    const [s1, e1] = shardRange(64, 1, 2);
    const a = await collect(m, s0, e0, 2, [0]);
    const b = await collect(m, s1, e1, 2, [1]);
    expect(missingShards(a)).toEqual([1]);
    const roundTrip = (s: DatasetStats) => statsFromJSON(JSON.parse(JSON.stringify(statsToJSON(s))));
    const merged = mergeStats(roundTrip(b), roundTrip(a));
    expect(missingShards(merged)).toEqual([]);
    expectSame(merged, { ...whole, meta: merged.meta });
    expect(merged.meta.shards).toEqual([0, 1]);
    // Patches are the input bytes under each entry's receptive-field box.
    const e = merged.layers[1].topk.entries[3][0];
    expect(e.patch!.length).toBe((e.box.y1 - e.box.y0 + 1) * (e.box.x1 - e.box.x0 + 1));
    expect(e.patch![0]).toBe(bytes.images[e.image * 144 + e.box.y0 * 12 + e.box.x0]);

    expect(() => mergeStats(a, a)).toThrow(/shard 1\/2 appears in both/);
    const other = buildModel('cnn1', { inputShape: [12, 12, 1], numClasses: 4, seed: 3 });
    disposables.push(other);
    const c = await collect(other, s1, e1, 2, [1]);
    expect(() => mergeStats(a, c)).toThrow(/different models/);
  });

  it('one-class batches (the fast path) give the same statistics as mixed ones', async () => {
    const m = buildModel('cnn1', { inputShape: [12, 12, 1], numClasses: 4, seed: 2 });
    disposables.push(m);
    const mixed = await collect(m, 0, 64, 1, [0]);
    const c = new StatsCollector(m, { numClasses: 4, k: 5, source: source(64), crop: cropFromSet(bytes) });
    const groups = classOrderedBatches(
      small.y,
      Array.from({ length: 64 }, (_, i) => i),
      16,
    );
    for (const g of groups) {
      expect(new Set([...g].map((i) => small.y[i])).size).toBe(1);
      expect(g.length).toBeLessThanOrEqual(16);
      const x = new Float32Array(g.length * 144);
      g.forEach((i, k) => {
        x.set(small.x.subarray(i * 144, (i + 1) * 144), k * 144);
      });
      await c.add({ x, y: [...g].map((i) => small.y[i]), size: g.length, indices: g });
    }
    expectSame(c.result(), mixed);
  });

  it('keeps no tensors between batches', async () => {
    const m = buildModel('cnn1', { inputShape: [12, 12, 1], numClasses: 4, seed: 2 });
    disposables.push(m);
    await collect(m, 0, 16, 1, [0]);
    const before = tf.memory().numTensors;
    await collect(m, 0, 64, 1, [0]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('on a briefly trained model the logits class-mean matrix peaks on the diagonal', async () => {
    const train = quadrants(512, 31, 12);
    const m = buildModel('cnn1', { inputShape: [12, 12, 1], numClasses: 4, seed: 4 });
    disposables.push(m);
    const opt = makeOptimizer({ name: 'adam', learningRate: 0.003 });
    disposables.push(opt);
    await trainModel(m, {
      optimizer: opt,
      epochs: 2,
      inputShape: [12, 12, 1],
      numClasses: 4,
      trainBatches: batchesOf(train, 32, 1),
    });
    const s = await collect(m, 0, 64, 1, [0]);
    const logits = s.layers.find((l) => l.layer.name === 'logits')!;
    const mat = classMeanMatrix(logits.means);
    let diag = 0;
    for (let c = 0; c < 4; c++) {
      const row = [...mat.slice(c * 4, c * 4 + 4)];
      if (row.indexOf(Math.max(...row)) === c) diag++;
    }
    expect(diag).toBeGreaterThanOrEqual(3);
  });
});
