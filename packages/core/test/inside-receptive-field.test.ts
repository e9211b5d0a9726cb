import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../src/engine/backend.ts';
import { clipBox, layerField, receptiveFields, unitBox } from '../src/inspect/receptive-field.ts';
import { empiricalField } from '../src/inspect/receptive-field-empirical.ts';
import { buildModel } from '../src/models/build.ts';
import type { LayerSpec } from '../src/models/spec.ts';

beforeAll(async () => {
  await initBackend('wasm');
});

const stack = (layers: LayerSpec[], size: number, channels = 1) =>
  buildModel({ name: 'rf', layers }, { inputShape: [size, size, channels], numClasses: 2, seed: 5 });

describe('analytic receptive fields', () => {
  it('pw11: conv 3 → 3, conv 3 → 5, pool 2 → 6 with jump 2; dense sees everything', () => {
    const m = buildModel('pw11', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const f = Object.fromEntries(receptiveFields(m).map((x) => [x.layer, x]));
    expect(f.conv1.rows).toEqual({ size: 3, jump: 1, start: 0 });
    expect(f.conv2.rows).toEqual({ size: 5, jump: 1, start: 0 });
    expect(f.pool1.rows).toEqual({ size: 6, jump: 2, start: 0 });
    expect(f.dropout1.rows).toEqual(f.pool1.rows);
    expect(f.dense1.global).toBe(true);
    expect(unitBox(f.pool1, 11, 3)).toEqual({ y0: 22, x0: 6, y1: 27, x1: 11 });
    m.dispose();
  });
});

/**
 * Analytic (clipped) box = bounding box of non-zero input gradients, at corners and inside. With
 * dilation, a border unit's outer taps can all fall in the padding, so there the gradient box is
 * only required to lie within the analytic one (`exactAtBorders` false).
 */
function checkStack(layers: LayerSpec[], size: number, channels = 1, exactAtBorders = true) {
  const m = stack(layers, size, channels);
  const convPool = receptiveFields(m).filter((f) => !f.global && f.outSize);
  expect(convPool.length).toBeGreaterThan(0);
  let checked = 0;
  for (const f of convPool) {
    const [h, w] = f.outSize!;
    const units = [
      [0, 0],
      [h - 1, w - 1],
      [Math.floor(h / 2), Math.floor((w - 1) / 3)],
      [Math.floor(h / 2), Math.floor(w / 2)],
    ];
    for (const [y, x] of units) {
      const full = unitBox(f, y, x);
      const want = clipBox(full, size, size);
      const got = empiricalField(m, f.layer, { y, x, channel: 0 }, { samples: 16 });
      const inside = full.y0 >= 0 && full.x0 >= 0 && full.y1 < size && full.x1 < size;
      if (inside || exactAtBorders) {
        expect({ layer: f.layer, y, x, box: got }).toEqual({ layer: f.layer, y, x, box: want });
      } else {
        expect(got).toBeDefined();
        expect(got!.y0).toBeGreaterThanOrEqual(want.y0);
        expect(got!.x0).toBeGreaterThanOrEqual(want.x0);
        expect(got!.y1).toBeLessThanOrEqual(want.y1);
        expect(got!.x1).toBeLessThanOrEqual(want.x1);
      }
      checked += inside ? 1 : 0;
    }
  }
  expect(checked).toBeGreaterThan(convPool.length - 1); // interior units were compared exactly
  m.dispose();
}

describe('analytic = empirical (input gradients)', () => {
  it('valid convs with strides and a max pool', () => {
    checkStack(
      [
        { type: 'conv2d', filters: 2, kernel: 3 },
        { type: 'conv2d', filters: 2, kernel: 3, strides: 2 },
        { type: 'maxpool', pool: 2 },
        { type: 'conv2d', filters: 2, kernel: 2 },
      ],
      21,
    );
  });

  it("'same' padding, a 5×5 stride-2 conv and an overlapping average pool", () => {
    checkStack(
      [
        { type: 'conv2d', filters: 2, kernel: 5, strides: 2, padding: 'same' },
        { type: 'avgpool', pool: 3, strides: 2, padding: 'same' },
        { type: 'conv2d', filters: 2, kernel: 3, padding: 'same' },
      ],
      20,
      3,
    );
  });

  it('dilated convs (valid and same) and rectangular kernels', () => {
    checkStack(
      [
        { type: 'conv2d', filters: 2, kernel: 3, dilation: 2 },
        { type: 'conv2d', filters: 2, kernel: [3, 2], dilation: 3, padding: 'same' },
        { type: 'maxpool', pool: 2, strides: 1 },
      ],
      25,
      1,
      false,
    );
  });

  it('layerField names an unknown layer', () => {
    const m = stack([{ type: 'conv2d', filters: 1, kernel: 3 }], 8);
    expect(() => layerField(m, 'zz')).toThrow(/unknown layer 'zz'/);
    expect(tf.memory().numTensors).toBeGreaterThan(0);
    m.dispose();
  });
});
