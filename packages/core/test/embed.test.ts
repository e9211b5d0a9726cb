import { describe, expect, it } from 'vitest';
import { createRng } from '../src/data/rng.ts';
import { embed2d, embeddingQuality } from '../src/embed/embed.ts';
import { nearestNeighbors } from '../src/embed/neighbors.ts';
import { pca } from '../src/embed/pca.ts';
import { knnSeparation } from '../src/embed/quality.ts';
import { clusters as seededClusters } from './helpers/clusters.ts';

const clusters = (classes: number, perClass: number, f: number, spread: number, seed = 3) =>
  seededClusters(classes, perClass, f, spread, seed, 5);

describe('pca', () => {
  it('finds the line that data lie on, with all the variance on it', () => {
    // Points t·(1,2,2)/3 + (4,−1,7): one direction, explained share 1, scores equal to t − mean(t).
    const ts = [-3, -1, 0, 2, 5, 8];
    const x = new Float32Array(ts.flatMap((t) => [4 + t / 3, -1 + (2 * t) / 3, 7 + (2 * t) / 3]));
    const p = pca(x, ts.length, 3, { components: 2 });
    expect(p.explained[0]).toBeCloseTo(1, 6);
    expect(p.explained[1]).toBeCloseTo(0, 6);
    const comp = Array.from(p.components.subarray(0, 3)).map(Math.abs);
    expect(comp[0]).toBeCloseTo(1 / 3, 5);
    expect(comp[1]).toBeCloseTo(2 / 3, 5);
    const mt = ts.reduce((a, b) => a + b) / ts.length;
    // The largest |score| (t = 8) is made positive.
    for (const [i, t] of ts.entries()) expect(p.scores[i * 2]).toBeCloseTo(t - mt, 4);
  });

  it('gives the variances of independent axes with different spreads', () => {
    // Columns with standard deviations 4, 2, 1 (uniform, so variance = width²/12); shares 16:4:1.
    const rng = createRng(7);
    const n = 4000;
    const x = new Float32Array(n * 3);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < 3; j++) x[i * 3 + j] = [4, 2, 1][j] * Math.sqrt(12) * (rng() - 0.5);
    const p = pca(x, n, 3, { components: 3 });
    expect(p.variance[0]).toBeCloseTo(16, 0);
    expect(p.variance[1]).toBeCloseTo(4, 0);
    expect(p.explained[0]).toBeCloseTo(16 / 21, 1);
    expect(p.explained[2]).toBeCloseTo(1 / 21, 1);
  });

  it('agrees across seeds (the sign is fixed) on a wide matrix', () => {
    const { x, n, f } = clusters(4, 50, 300, 2);
    const a = pca(x, n, f, { components: 2, seed: 1 });
    const b = pca(x, n, f, { components: 2, seed: 99 });
    for (let i = 0; i < n * 2; i++) expect(b.scores[i]).toBeCloseTo(a.scores[i], 3);
  });
});

describe('embed2d', () => {
  const { x, n, f, labels } = clusters(5, 40, 64, 3);

  it('umap: same seed gives identical coordinates, another seed different ones', () => {
    const a = embed2d(x, n, f, 'umap', 1);
    const b = embed2d(x, n, f, 'umap', 1);
    const c = embed2d(x, n, f, 'umap', 2);
    expect(Array.from(b.coords)).toEqual(Array.from(a.coords));
    let diff = 0;
    for (let i = 0; i < n * 2; i++) diff = Math.max(diff, Math.abs(c.coords[i] - a.coords[i]));
    expect(diff).toBeGreaterThan(0.1);
    // Well-separated clusters stay separated in the map.
    expect(embeddingQuality(x, n, f, a.coords, labels).map!.accuracy).toBeGreaterThan(0.95);
  }, 60_000);

  it('pca: deterministic and its map separates the clusters', () => {
    const a = embed2d(x, n, f, 'pca', 1);
    expect(Array.from(embed2d(x, n, f, 'pca', 1).coords)).toEqual(Array.from(a.coords));
    const q = embeddingQuality(x, n, f, a.coords, labels);
    expect(q.full!.accuracy).toBe(1);
    expect(a.explained![0]).toBeGreaterThan(0.1);
  });
});

describe('knnSeparation', () => {
  it('is 1 on well-separated classes and near chance on random labels', () => {
    const { x, n, f, labels } = clusters(4, 100, 16, 1);
    const good = knnSeparation(x, n, f, labels)!;
    expect(good.accuracy).toBe(1);
    expect(good.chance).toBe(0.25);
    const rng = createRng(11);
    const random = Int32Array.from(labels, () => Math.floor(rng() * 4));
    const bad = knnSeparation(x, n, f, random)!;
    expect(Math.abs(bad.accuracy - 0.25)).toBeLessThan(0.08);
  });

  it('skips unlabelled points and needs two classes', () => {
    const x = new Float64Array([0, 0, 1, 1, 10, 10, 11, 11, 5, 5]);
    expect(knnSeparation(x, 5, 2, [0, 0, 1, 1, -1], { k: 1 })).toEqual({
      accuracy: 1,
      chance: 0.5,
      k: 1,
      points: 4,
    });
    expect(knnSeparation(x, 5, 2, [0, 0, 0, 0, -1], { k: 1 })).toBeNull();
  });
});

describe('nearestNeighbors', () => {
  // Row 0 = (1, 0); row 1 points the same way but is long; row 2 is close in euclidean terms but at 45°.
  const x = new Float32Array([1, 0, 10, 0, 1, 1, 0, 3, -1, 0]);
  it('cosine ranks by direction, euclidean by distance', () => {
    const cos = nearestNeighbors(x, 5, 2, 0, 2, 'cosine');
    expect(cos.map((r) => r.index)).toEqual([1, 2]);
    expect(cos[0].distance).toBeCloseTo(0, 9);
    expect(cos[1].distance).toBeCloseTo(1 - Math.SQRT1_2, 9);
    const euc = nearestNeighbors(x, 5, 2, 0, 3, 'euclidean');
    expect(euc.map((r) => r.index)).toEqual([2, 4, 3]);
    expect(euc[0].distance).toBeCloseTo(1, 9);
    expect(euc[1].distance).toBeCloseTo(2, 9);
  });
  it('rejects an index out of range', () => {
    expect(() => nearestNeighbors(x, 5, 2, 5, 2)).toThrow(/index 5 is out of range \(0–4\)/);
  });
});
