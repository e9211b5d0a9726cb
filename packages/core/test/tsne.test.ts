import { describe, expect, it } from 'vitest';
import { embed2d } from '../src/embed/embed.ts';
import { knnSeparation } from '../src/embed/quality.ts';
import { tsne2d } from '../src/embed/tsne.ts';
import { clusters as seededClusters } from './helpers/clusters.ts';

const clusters = (classes: number, perClass: number, f: number, spread: number, seed = 5) =>
  seededClusters(classes, perClass, f, spread, seed, 3);

describe('tsne2d', () => {
  // 6 classes × 40 points in 48 dimensions: the 30-component PCA step runs too.
  const d = clusters(6, 40, 48, 4);

  it('separates well-separated classes and is seeded', () => {
    const a = tsne2d(d.x, d.n, d.f, { seed: 1, iterations: 400 });
    const b = tsne2d(d.x, d.n, d.f, { seed: 1, iterations: 400 });
    const c = tsne2d(d.x, d.n, d.f, { seed: 2, iterations: 400 });
    expect(Array.from(b)).toEqual(Array.from(a));
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - c[i]));
    expect(diff).toBeGreaterThan(0.1);
    const full = knnSeparation(d.x, d.n, d.f, d.labels);
    const map = knnSeparation(a, d.n, 2, d.labels);
    expect(full?.accuracy).toBeGreaterThan(0.95);
    expect(map?.accuracy).toBeGreaterThan(0.95);
    expect(map?.chance).toBeCloseTo(1 / 6, 2);
    // Centred, and spread out from the 1e-4 start.
    let m0 = 0;
    let r = 0;
    for (let i = 0; i < d.n; i++) {
      m0 += a[i * 2];
      r = Math.max(r, Math.abs(a[i * 2]));
    }
    expect(Math.abs(m0 / d.n)).toBeLessThan(1e-9);
    expect(r).toBeGreaterThan(1);
  });

  it('is reachable as an embed method and refuses what it cannot do', () => {
    const e = embed2d(d.x, d.n, d.f, 'tsne', 3);
    expect(e.method).toBe('tsne');
    expect(knnSeparation(e.coords, d.n, 2, d.labels)?.accuracy).toBeGreaterThan(0.95);
    expect(() => tsne2d(new Float32Array(6), 3, 2)).toThrow(/at least 4 points/);
    expect(() => tsne2d(new Float32Array(3001 * 2), 3001, 2)).toThrow(/limited to 3000/);
  });
});
