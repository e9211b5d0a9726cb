import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { boxesMask, strokeMasks } from '../src/metrics/regions.ts';
import { canRun, getMetric, METRIC_FAMILIES, metrics } from '../src/metrics/registry.ts';
import { ssim } from '../src/metrics/similarity.ts';
import type { MetricContext } from '../src/metrics/types.ts';

const H = 8;
const W = 8;
const n = H * W;
/** The top-left 4×4 quadrant of an 8×8 image. */
const quadrant = Uint8Array.from({ length: n }, (_, p) => (p % W < 4 && Math.floor(p / W) < 4 ? 1 : 0));

function ctxOf(maps: Float32Array[], regions?: Uint8Array[]): MetricContext {
  return {
    input: tf.zeros([maps.length, H, W, 1]) as tf.Tensor4D,
    targets: maps.map(() => 0),
    maps,
    regions,
  };
}

async function run(
  id: string,
  maps: Float32Array[],
  regions?: Uint8Array[],
  options?: Record<string, unknown>,
) {
  const ctx = ctxOf(maps, regions);
  try {
    return await getMetric(id).compute(ctx, options);
  } finally {
    ctx.input.dispose();
  }
}

describe('metric registry', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('registers every family with unique ids and says what each needs', () => {
    const all = metrics();
    expect(new Set(all.map((m) => m.id)).size).toBe(all.length);
    for (const f of METRIC_FAMILIES) expect(all.some((m) => m.family === f)).toBe(true);
    expect(all.length).toBeGreaterThanOrEqual(24);
    expect(metrics({ families: ['localisation'] }).map((m) => m.id)).toEqual([
      'pointing-game',
      'relevance-mass',
      'relevance-rank',
      'top-k-intersection',
    ]);
    expect(() => getMetric('nope')).toThrow(/unknown metric 'nope' \(valid: deletion/);
    const ctx = ctxOf([new Float32Array(n)]);
    expect(canRun(getMetric('sparseness'), ctx)).toBe(true);
    expect(canRun(getMetric('pointing-game'), ctx)).toBe(false);
    expect(canRun(getMetric('deletion'), ctx)).toBe(false);
    ctx.input.dispose();
  });
});

describe('complexity metrics', () => {
  it('a constant map: Gini 0, entropy log n, every pixel effective', async () => {
    const flat = [new Float32Array(n).fill(0.3)];
    expect((await run('sparseness', flat)).values[0]).toBeCloseTo(0, 6);
    expect((await run('complexity', flat)).values[0]).toBeCloseTo(Math.log(n), 6);
    expect((await run('effective-complexity', flat)).values[0]).toBe(1);
  });

  it('a one-hot map: Gini (n−1)/n → 1, entropy 0, one effective pixel', async () => {
    const hot = new Float32Array(n);
    hot[17] = -5; // sign does not matter: |a|
    expect((await run('sparseness', [hot])).values[0]).toBeCloseTo((n - 1) / n, 6);
    expect((await run('complexity', [hot])).values[0]).toBeCloseTo(0, 6);
    expect((await run('effective-complexity', [hot])).values[0]).toBeCloseTo(1 / n, 6);
  });

  it('Gini of a known vector and NaN for an all-zero map', async () => {
    // |a| sorted 0,0,1,3: Σ(2i−n−1)a_i / (n Σa) = ((1)·1 + (3)·3) / (4·4) = 10/16
    const m = new Float32Array(n);
    m[0] = 1;
    m[1] = -3;
    const four = Float32Array.of(1, -3, 0, 0);
    const ctx: MetricContext = {
      input: tf.zeros([1, 2, 2, 1]) as tf.Tensor4D,
      targets: [0],
      maps: [four],
    };
    expect((await getMetric('sparseness').compute(ctx)).values[0]).toBeCloseTo(10 / 16, 6);
    ctx.input.dispose();
    expect((await run('sparseness', [new Float32Array(n)])).values[0]).toBeNaN();
  });
});

describe('localisation metrics', () => {
  it('a map equal to the region: hit, mass 1, rank 1, top-k 1', async () => {
    const map = Float32Array.from(quadrant);
    for (const id of ['pointing-game', 'relevance-mass', 'relevance-rank'])
      expect((await run(id, [map], [quadrant])).values[0]).toBe(1);
    expect((await run('top-k-intersection', [map], [quadrant], { k: 16 })).values[0]).toBe(1);
  });

  it('a map half inside: mass and rank give the known shares; the maximum outside misses', async () => {
    // 8 region pixels at 1, 8 outside at 3, the rest 0: mass 8/(8+24) = 0.25; top-16 holds the 8 + 8.
    const map = new Float32Array(n);
    let inside = 0;
    let outside = 0;
    for (let p = 0; p < n; p++) {
      if (quadrant[p] && inside < 8) {
        map[p] = 1;
        inside++;
      } else if (!quadrant[p] && outside < 8) {
        map[p] = 3;
        outside++;
      }
    }
    expect((await run('relevance-mass', [map], [quadrant])).values[0]).toBeCloseTo(0.25, 6);
    expect((await run('relevance-rank', [map], [quadrant])).values[0]).toBeCloseTo(0.5, 6);
    expect((await run('top-k-intersection', [map], [quadrant], { k: 8 })).values[0]).toBe(0);
    expect((await run('pointing-game', [map], [quadrant])).values[0]).toBe(0);
    // Negative evidence is not mass: a strongly negative region pixel changes nothing.
    const neg = Float32Array.from(map);
    neg[0] = -100;
    expect((await run('relevance-mass', [neg], [quadrant])).values[0]).toBeCloseTo(7 / 31, 6);
  });

  it('needs regions, and an empty region gives NaN', async () => {
    await expect(run('pointing-game', [new Float32Array(n)])).rejects.toThrow(
      'pointing-game needs a ground-truth region per input',
    );
    expect(
      (await run('relevance-rank', [Float32Array.from(quadrant)], [new Uint8Array(n)])).values[0],
    ).toBeNaN();
  });
});

describe('regions and similarity', () => {
  it('stroke masks follow each image’s own range; boxes become masks', async () => {
    const img = tf.tensor4d([0, 0.2, 0.8, 1, -1, -1, 1, 0.9], [2, 2, 2, 1]);
    const [a, b] = await strokeMasks(img);
    img.dispose();
    expect(Array.from(a)).toEqual([0, 0, 1, 1]);
    expect(Array.from(b)).toEqual([0, 0, 1, 1]);
    const m = boxesMask([{ x0: 1, y0: 0, x1: 3, y1: 2 }], 3, 4);
    expect(Array.from(m)).toEqual([0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
  });

  it('SSIM is 1 for identical maps and lower for unrelated ones', () => {
    const a = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: n }, (_, i) => Math.cos(3 * i));
    expect(ssim(a, a, H, W)).toBeCloseTo(1, 6);
    expect(ssim(a, b, H, W)).toBeLessThan(0.5);
  });
});
