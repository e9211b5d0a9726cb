// DeconvNet against its definition: relu of the backward signal at ReLUs (where it parts from guided
// backprop), the plain gradient on a net without ReLUs, max-pool switches, no leaks, model restored.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/backend.ts';
import { deconvnet, deconvProjection, withDeconvRelus } from '../src/methods/explain/deconvnet.ts';
import { withGuidedRelus } from '../src/methods/explain/guided.ts';
import { explainMethods } from '../src/methods/explain/registry.ts';

/** Seeded values in [lo, hi). */
function rand(n: number, seed: number, lo = 0, hi = 1): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return lo + (s / 2 ** 32) * (hi - lo);
  });
}

const conv = (
  name: string,
  filters: number,
  kernelSize: number,
  activation: 'relu' | 'linear',
  seed: number,
) =>
  tf.layers.conv2d({
    name,
    filters,
    kernelSize,
    padding: 'same',
    activation,
    kernelInitializer: tf.initializers.glorotUniform({ seed }),
  });

/** The kept activations: the unit (or channel) deconvProjection chose, with its values, else zero. */
function kept(sub: tf.LayersModel, x: tf.Tensor4D, units: [number, number, number][], channel?: number) {
  return tf.tidy(() => {
    const a = sub.predict(x) as tf.Tensor4D;
    const [n, h, w, c] = a.shape;
    const mask = new Float32Array(n * h * w * c);
    units.forEach(([y, xx, k], i) => {
      if (channel === undefined) mask[((i * h + y) * w + xx) * c + k] = 1;
      else for (let p = 0; p < h * w; p++) mask[(i * h * w + p) * c + channel] = 1;
    });
    return tf.mul(a, tf.tensor4d(mask, a.shape)) as tf.Tensor4D;
  });
}

/** d(Σ sub(x)·keep)/dx with the model as it is (plain gradient). */
const plainProjection = (sub: tf.LayersModel, x: tf.Tensor4D, keep: tf.Tensor4D) =>
  tf.tidy(() => tf.grad((inp: tf.Tensor) => tf.sum(tf.mul(sub.apply(inp) as tf.Tensor, keep)))(x));

describe('DeconvNet', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('passes relu(backward signal) at a ReLU, and differs from guided backprop exactly where the forward input was negative', async () => {
    // c1 = relu(identity 1×1 conv), so the ReLU below the projected unit sees the pixels themselves;
    // c2 = 3×3 conv with mixed-sign weights (relu): the layer projected from.
    const m = tf.sequential();
    m.add(
      tf.layers.conv2d({ inputShape: [6, 6, 1], name: 'c1', filters: 1, kernelSize: 1, activation: 'relu' }),
    );
    m.add(tf.layers.conv2d({ name: 'c2', filters: 1, kernelSize: 3, padding: 'same', activation: 'relu' }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 2 }));
    m.getLayer('c1').setWeights([tf.ones([1, 1, 1, 1]), tf.zeros([1])]);
    const w2 = [1, -1, 0.5, 1, 2, -1, 0.5, 1, 1];
    m.getLayer('c2').setWeights([tf.tensor4d(w2, [3, 3, 1, 1]), tf.zeros([1])]);
    const xs = rand(36, 7, -1, 1);
    const x = tf.tensor4d(xs, [1, 6, 6, 1]);

    const p = await deconvProjection(m, x, { layer: 'c2' });
    expect(p.layer).toBe('c2');
    expect(p.activations[0]).toBeGreaterThan(0);
    const sub = tf.model({ inputs: m.inputs, outputs: m.getLayer('c2').output as tf.SymbolicTensor });
    const keep = kept(sub, x, p.units);
    // The backward signal reaching c1's ReLU: c2's transposed filter applied to the kept unit.
    const signal = tf.tidy(() =>
      tf.grad((a: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, tf.tensor4d(w2, [3, 3, 1, 1]), 1, 'same'), keep)),
      )(tf.zeros([1, 6, 6, 1])),
    );
    const guided = tf.tidy(() =>
      withGuidedRelus(m, () =>
        tf.grad((inp: tf.Tensor) => tf.sum(tf.mul(sub.apply(inp) as tf.Tensor, keep)))(x),
      ),
    );
    const d = p.projection.dataSync();
    const g = guided.dataSync();
    const s = signal.dataSync();
    let differing = 0;
    for (let i = 0; i < 36; i++) {
      // c1 is the identity, so the projection on pixels is the signal after the ReLU rule.
      expect(d[i]).toBeCloseTo(Math.max(0, s[i]), 5);
      const differs = Math.abs(d[i] - g[i]) > 1e-6;
      expect(differs, `pixel ${i}: x=${xs[i]} signal=${s[i]}`).toBe(xs[i] < 0 && s[i] > 0);
      if (differs) differing++;
    }
    expect(differing).toBeGreaterThan(0);
    tf.dispose([x, keep, signal, guided, p.projection]);
    m.dispose();
  });

  it('equals the plain gradient of the kept activations on a net without ReLUs', async () => {
    const m = tf.sequential();
    m.add(
      tf.layers.conv2d({
        inputShape: [8, 8, 2],
        name: 'c1',
        filters: 3,
        kernelSize: 3,
        padding: 'same',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
    );
    m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'p1' }));
    m.add(conv('c2', 4, 3, 'linear', 2));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 3 }));
    const x = tf.tensor4d(rand(2 * 8 * 8 * 2, 3, -1, 1), [2, 8, 8, 2]);
    const sub = tf.model({ inputs: m.inputs, outputs: m.getLayer('c2').output as tf.SymbolicTensor });
    for (const channel of [undefined, 2]) {
      const p = await deconvProjection(m, x, {
        layer: 'c2',
        ...(channel === undefined ? {} : { mode: 'channel' as const, channel }),
      });
      if (channel !== undefined) expect(p.units.every((u) => u[2] === channel)).toBe(true);
      const keep = kept(sub, x, p.units, channel);
      const plain = plainProjection(sub, x, keep);
      const a = p.projection.dataSync();
      const b = plain.dataSync();
      expect(b.some((v) => Math.abs(v) > 1e-3)).toBe(true);
      for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 5);
      tf.dispose([keep, plain, p.projection]);
    }
    x.dispose();
    m.dispose();
  });

  it('routes the signal through the max-pool switches: non-zero only where the pool took its maximum', async () => {
    const m = tf.sequential();
    m.add(tf.layers.maxPooling2d({ inputShape: [6, 6, 2], poolSize: 2, name: 'p' }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 2, activation: 'relu' }));
    const xs = rand(72, 5, -1, 1);
    const x = tf.tensor4d(xs, [1, 6, 6, 2]);
    // Winners of each 2×2 window, per channel.
    const winners = new Set<number>();
    for (let c = 0; c < 2; c++)
      for (let by = 0; by < 3; by++)
        for (let bx = 0; bx < 3; bx++) {
          let best = -1;
          for (let dy = 0; dy < 2; dy++)
            for (let dx = 0; dx < 2; dx++) {
              const i = ((by * 2 + dy) * 6 + bx * 2 + dx) * 2 + c;
              if (best < 0 || xs[i] > xs[best]) best = i;
            }
          winners.add(best);
        }
    const whole = await deconvProjection(m, x, { layer: 'p', mode: 'channel', channel: 1 });
    const d = whole.projection.dataSync();
    for (let i = 0; i < 72; i++) {
      const expected = winners.has(i) && i % 2 === 1;
      expect(d[i] !== 0, `pixel ${i >> 1} channel ${i % 2}`).toBe(expected);
      // Through a pool alone the kept value comes back unchanged at its switch.
      if (expected) expect(d[i]).toBeCloseTo(xs[i], 6);
    }
    const one = await deconvProjection(m, x, { layer: 'p' });
    const [y, xx, c] = one.units[0];
    const nz = [...one.projection.dataSync()].flatMap((v, i) => (v !== 0 ? [i] : []));
    expect(nz).toHaveLength(1);
    expect(winners.has(nz[0])).toBe(true);
    expect(nz[0] % 2).toBe(c);
    expect(Math.floor(Math.floor(nz[0] / 2) / 6 / 2)).toBe(y);
    expect(Math.floor(((nz[0] >> 1) % 6) / 2)).toBe(xx);
    expect(one.activations[0]).toBeCloseTo(Math.max(...xs), 6);
    // 'channel-max': the strongest unit of channel 0 only, back at its switch with its value.
    const best0 = [...winners].filter((i) => i % 2 === 0).reduce((a, b) => (xs[b] > xs[a] ? b : a));
    const cm = await deconvProjection(m, x, { layer: 'p', mode: 'channel-max', channel: 0 });
    const nz0 = [...cm.projection.dataSync()].flatMap((v, i) => (v !== 0 ? [i] : []));
    expect(nz0).toEqual([best0]);
    expect(cm.units[0][2]).toBe(0);
    expect(cm.activations[0]).toBeCloseTo(xs[best0], 6);
    tf.dispose([x, whole.projection, one.projection, cm.projection]);
    m.dispose();
  });

  it("rule 'guided' projects the same kept activations by guided backprop", async () => {
    const m = tf.sequential();
    m.add(
      tf.layers.conv2d({ inputShape: [6, 6, 1], name: 'c1', filters: 2, kernelSize: 3, activation: 'relu' }),
    );
    m.add(tf.layers.conv2d({ name: 'c2', filters: 2, kernelSize: 3, activation: 'relu' }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 2 }));
    const x = tf.tensor4d(rand(36, 3, -1, 1), [1, 6, 6, 1]);
    const g = await deconvProjection(m, x, { layer: 'c2', mode: 'channel-max', channel: 1, rule: 'guided' });
    const sub = tf.model({ inputs: m.inputs, outputs: m.getLayer('c2').output as tf.SymbolicTensor });
    const keep = kept(sub, x, g.units);
    const expected = tf.tidy(() =>
      withGuidedRelus(m, () =>
        tf.grad((inp: tf.Tensor) => tf.sum(tf.mul(sub.apply(inp) as tf.Tensor, keep)))(x),
      ),
    );
    const a = g.projection.dataSync();
    const b = expected.dataSync();
    for (let i = 0; i < 36; i++) expect(a[i]).toBeCloseTo(b[i], 6);
    await expect(deconvProjection(m, x, { layer: 'c2', rule: 'magic' as any })).rejects.toThrow(
      /rule must be deconvnet or guided/,
    );
    await expect(deconvProjection(m, x, { layer: 'c2', mode: 'channel-max' })).rejects.toThrow(
      /mode 'channel-max' needs option channel, an integer in 0–1/,
    );
    tf.dispose([x, keep, expected, g.projection]);
    m.dispose();
  });

  it('is registered after guided Grad-CAM, maps max |projection|, leaks nothing and restores the model', async () => {
    const ids = explainMethods().map((m) => m.id);
    expect(ids.indexOf('deconvnet')).toBe(ids.indexOf('guided-gradcam') + 1);
    const m = tf.sequential();
    m.add(
      tf.layers.conv2d({
        inputShape: [10, 10, 2],
        name: 'c1',
        filters: 6,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
    );
    m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'p1' }));
    m.add(conv('c2', 8, 3, 'linear', 2));
    m.add(tf.layers.reLU({ name: 'r2' }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }));
    const x = tf.tensor4d(rand(2 * 200, 9, -1, 1), [2, 10, 10, 2]);
    const before = tf.tidy(() => (m.predict(x) as tf.Tensor).arraySync());
    const sub = tf.model({ inputs: m.inputs, outputs: m.getLayer('r2').output as tf.SymbolicTensor });
    const probe = tf.tensor4d(rand(2 * 5 * 5 * 8, 4, -1, 1), [2, 5, 5, 8]);
    const gradBefore = plainProjection(sub, x, probe).arraySync();

    const e = await deconvnet.explain({ model: m, input: x, target: [0, 3] });
    expect(e.layer).toBe('r2');
    expect(e.signed).toBe(false);
    expect(e.targets).toEqual([0, 3]);
    const units = e.meta.unit as [number, number, number][];
    expect(units).toHaveLength(2);
    expect((e.meta.activation as number[]).every((v) => v > 0)).toBe(true);
    const p = await deconvProjection(m, x);
    const expected = tf.tidy(() => tf.max(tf.abs(p.projection), 3).dataSync());
    const got = Float32Array.from(e.maps.flatMap((mm) => [...mm]));
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(expected[i], 6);
    p.projection.dispose();

    const run = () =>
      deconvnet.explain({ model: m, input: x, target: 1, options: { mode: 'channel', channel: 5 } });
    await run();
    const n = tf.memory().numTensors;
    await run();
    await run();
    expect(tf.memory().numTensors).toBe(n);

    // Restored: same predictions, and ordinary gradients again (ReLUs gate on the forward input).
    expect(tf.tidy(() => (m.predict(x) as tf.Tensor).arraySync())).toEqual(before);
    const gradAfter = plainProjection(sub, x, probe);
    expect(gradAfter.arraySync()).toEqual(gradBefore);
    const swapped = tf.tidy(
      () =>
        withDeconvRelus(m, () => plainProjection(sub, x, probe))
          .sub(gradAfter)
          .abs()
          .max()
          .dataSync()[0],
    );
    expect(swapped).toBeGreaterThan(1e-3);
    tf.dispose([probe, gradAfter]);

    await expect(
      deconvnet.explain({ model: m, input: x, target: 0, options: { mode: 'channel', channel: 8 } }),
    ).rejects.toThrow(/needs option channel, an integer in 0–7/);
    await expect(deconvnet.explain({ model: m, input: x, target: 0, layer: 'nope' })).rejects.toThrow(
      /no layer 'nope'/,
    );
    x.dispose();
    m.dispose();
  });
});
