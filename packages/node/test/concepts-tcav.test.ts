// TCAV on a model built so the answer is known: class 1's score is 0.3·v·f + ½|f|² on the layer f = x, so
// its gradient there is 0.3·v + f. A concept of images bright where v > 0 has a CAV along v (TCAV ≈ 1), its
// negative along −v (≈ 0); a folder of noise is a random concept (not significant). Also the t-test
// against scipy's ttest_ind, and the CLI's files.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../src/io/model-io.ts';
import { openModel } from '../src/open/open-model.ts';
import { tcavTask, tTest } from '../src/tasks/concepts-tcav.ts';

let dir: string;
const V = Array.from({ length: 16 }, (_, i) => ((i * 7) % 5 < 2 ? 1 : -1));

function rng(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

async function folder(name: string, n: number, seed: number, pixel: (i: number, r: () => number) => number) {
  const d = join(dir, name);
  await mkdir(d, { recursive: true });
  const r = rng(seed);
  for (let k = 0; k < n; k++) {
    const px = Buffer.from(
      Array.from({ length: 16 }, (_, i) => Math.round(255 * Math.min(1, Math.max(0, pixel(i, r))))),
    );
    await writeFile(
      join(d, `${k}.png`),
      await sharp(px, { raw: { width: 4, height: 4, channels: 1 } })
        .png()
        .toBuffer(),
    );
  }
  return d;
}

beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'convlens-tcav-'));
  const input = tf.input({ shape: [4, 4, 1] });
  const f = tf.layers.flatten({ name: 'feat' }).apply(input) as tf.SymbolicTensor;
  const lin = tf.layers
    .dense({
      units: 2,
      name: 'lin',
      weights: [
        tf.tensor2d(
          V.flatMap((v) => [0, 0.3 * v]),
          [16, 2],
        ),
        tf.zeros([2]),
      ],
    })
    .apply(f) as tf.SymbolicTensor;
  const sq = tf.layers.multiply({ name: 'sq' }).apply([f, f]) as tf.SymbolicTensor;
  const quad = tf.layers
    .dense({
      units: 2,
      name: 'quad',
      useBias: false,
      weights: [
        tf.tensor2d(
          V.flatMap(() => [0, 0.5]),
          [16, 2],
        ),
      ],
    })
    .apply(sq) as tf.SymbolicTensor;
  const logits = tf.layers.add({ name: 'logits' }).apply([lin, quad]) as tf.SymbolicTensor;
  const probs = tf.layers
    .activation({ activation: 'softmax', name: 'probs' })
    .apply(logits) as tf.SymbolicTensor;
  await saveModel(tf.model({ inputs: input, outputs: probs }), join(dir, 'model'));
  // Pixels p become x = 2p − 1 (scale-1-1): the concept is x ≈ ±0.8·v with noise.
  await folder('class', 40, 1, (_i, r) => r());
  await folder('striped', 20, 2, (i, r) => 0.5 + 0.4 * V[i] * (0.4 + 0.6 * r()));
  await folder('anti', 20, 3, (i, r) => 0.5 - 0.4 * V[i] * (0.4 + 0.6 * r()));
  await folder('noise', 20, 4, (_i, r) => r());
  for (let k = 0; k < 4; k++) await folder(`random${k}`, 20, 10 + k, (_i, r) => r());
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('tcav', () => {
  it('the t-test is scipy’s ttest_ind', () => {
    const { t, p } = tTest([1, 2, 3, 4], [2, 4, 6, 8, 10]);
    expect(t).toBeCloseTo(-2.0578065752724592, 10);
    expect(p).toBeCloseTo(0.0786192350586938, 8);
  });

  it('finds the concept the class score is built on, its negative, and nothing in noise', async () => {
    const m = await openModel(join(dir, 'model'), { preset: 'scale-1-1' });
    const out = join(dir, 'out');
    const before = tf.memory().numTensors;
    const r = await tcavTask(m, {
      layer: 'feat',
      class: '1',
      concepts: ['striped', 'anti', 'noise'].map((name) => ({ name, dir: join(dir, name) })),
      random: Array.from({ length: 4 }, (_, k) => join(dir, `random${k}`)),
      dataset: join(dir, 'class'),
      out,
    });
    expect(tf.memory().numTensors).toBe(before);
    const [striped, anti, noise] = r.concepts;
    expect(r.classImages).toBe(40);
    expect(striped.scores).toHaveLength(4);
    expect(r.random.scores).toHaveLength(12);
    expect(striped.mean).toBeGreaterThan(0.9);
    expect(striped.significant).toBe(true);
    expect(anti.mean).toBeLessThan(0.1);
    expect(anti.significant).toBe(true);
    expect(noise.significant).toBe(false);
    expect(r.random.mean).toBeGreaterThan(0.2);
    expect(r.random.mean).toBeLessThan(0.8);
    expect(r.bonferroniAlpha).toBeCloseTo(0.05 / 3, 4);
    const saved = JSON.parse(await readFile(join(out, 'tcav.json'), 'utf8'));
    expect(saved.concepts[0].mean).toBe(striped.mean);
    const png = await sharp(join(out, 'tcav.png')).metadata();
    expect(png.width).toBeGreaterThan(300);
    await expect(
      tcavTask(m, {
        layer: 'feat',
        class: '1',
        concepts: [{ name: 'a', dir: join(dir, 'striped') }],
        random: [join(dir, 'random0')],
        dataset: join(dir, 'class'),
      }),
    ).rejects.toThrow(/at least 3/);
    m.dispose();
  }, 60_000);
});
