import { describe, expect, it } from 'vitest';
import { pointingGame, pointingHit } from '../src/methods/faithfulness/pointing-game.ts';
import { pearson, ranks, spearman } from '../src/methods/faithfulness/rank-correlation.ts';

describe('rank correlation', () => {
  it('averages tied ranks', () => {
    expect(Array.from(ranks([10, 20, 20, 5]))).toEqual([2, 3.5, 3.5, 1]);
  });

  it('is 1 for any monotone transform, −1 for a reversal, and matches the textbook value', () => {
    const a = [1, 2, 3, 4, 5];
    expect(
      spearman(
        a,
        a.map((v) => Math.exp(v)),
      ),
    ).toBeCloseTo(1, 12);
    expect(
      spearman(
        a,
        a.map((v) => -(v ** 3)),
      ),
    ).toBeCloseTo(-1, 12);
    // No ties: ρ = 1 − 6Σd²/(n(n²−1)); ranks [1..5] vs [2,1,4,3,5] give Σd² = 4 → ρ = 0.8.
    expect(spearman(a, [2, 1, 4, 3, 5])).toBeCloseTo(0.8, 12);
    expect(pearson([1, 2, 3], [2, 4, 7])).toBeCloseTo(0.9933992677987828, 12);
  });

  it('is NaN for a constant map and rejects different sizes', () => {
    expect(spearman([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(() => spearman([1, 2], [1, 2, 3])).toThrow(/2 vs 3/);
  });
});

describe('pointing game', () => {
  const map = new Float32Array(4 * 5); // 4 rows × 5 columns
  map[2 * 5 + 3] = 1; // maximum at x=3, y=2

  it('hits only when the maximum lies inside the box (exclusive upper edges)', () => {
    expect(pointingHit(map, 5, [{ x0: 3, y0: 2, x1: 4, y1: 3 }])).toBe(true);
    expect(pointingHit(map, 5, [{ x0: 0, y0: 0, x1: 3, y1: 4 }])).toBe(false);
    expect(
      pointingHit(map, 5, [
        { x0: 0, y0: 0, x1: 1, y1: 1 },
        { x0: 2, y0: 1, x1: 5, y1: 3 },
      ]),
    ).toBe(true);
    expect(pointingHit(new Float32Array(4).fill(Number.NaN), 2, [{ x0: 0, y0: 0, x1: 2, y1: 2 }])).toBe(
      false,
    );
  });

  it('scores the fraction of hits', () => {
    const box = [{ x0: 3, y0: 2, x1: 4, y1: 3 }];
    const miss = new Float32Array(20);
    miss[0] = 1;
    expect(pointingGame([map, miss, map, map], 5, [box, box, box, box])).toBe(0.75);
    expect(() => pointingGame([map], 5, [])).toThrow(/1 maps but 0/);
  });
});
