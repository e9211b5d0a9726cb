// Each of issue 19's gradient-family and perturbation attributions once on the real MobileNet v1 0.25
// (coffee.png, explaining 'espresso') with its default budget: the time printed, maps finite and not
// flat, no tensors left behind; DeepLIFT and Shapley sampling keep their exact sums on a real network,
// and the perturbation maps and LRP put their positive mass on the cup.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { MORE_ATTRIBUTION_METHODS } from '@convlens/core/methods/explain/attribution-methods';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerNativeKernels } from '../src/engine/native.ts';
import { loadModel } from '../src/io/model-io.ts';
import { readImage } from '../src/io/png.ts';

const SHARED = resolve(import.meta.dirname, '../../../../shared');
const MODEL = join(SHARED, 'models/mobilenet_v1_0.25_224/model.json');
const IMAGE = join(SHARED, 'images/coffee.png');
const have = existsSync(MODEL) && existsSync(IMAGE);
/** The cup and saucer in the 224×224 image, [x0, y0, x1, y1] (as cli-explain.test.ts): 64% of it. */
const BOX = [15, 0, 210, 165];
/** Methods whose positive mass must lie on the cup (the rest are too pixel-noisy on MobileNet to ask). */
const ON_CUP = new Set(['lrp', 'feature-ablation', 'shapley-sampling', 'rise']);

describe.skipIf(!have)('attribution methods on MobileNet v1 0.25', () => {
  let model: tf.LayersModel;
  let x: tf.Tensor4D;
  let target: number;
  beforeAll(async () => {
    registerNativeKernels(); // as the CLI's default backend; plain wasm where the addon does not build
    await initBackend('wasm');
    model = (await loadModel(MODEL)).model;
    const img = await readImage(IMAGE, { width: 224, height: 224, channels: 3 });
    x = tf.tidy(() => tf.sub(tf.mul(tf.tensor4d(img.pixels, [1, 224, 224, 3]), 2), 1)) as tf.Tensor4D;
    target = tf.tidy(() => (model.predict(x) as tf.Tensor).argMax(1).dataSync()[0]);
  });
  afterAll(() => {
    x?.dispose();
    model?.dispose();
  });

  it('runs every method with its default budget', async () => {
    expect(target).toBe(967); // espresso
    // One 8-image gradient first, untimed: the first backward pass at a batch size pays the kernels' warm-up.
    await MORE_ATTRIBUTION_METHODS[0].explain({ model, input: x, target, options: { samples: 8 } });
    const before = tf.memory().numTensors;
    const times: string[] = [];
    const shares: string[] = [];
    for (const m of MORE_ATTRIBUTION_METHODS) {
      const t0 = performance.now();
      const e = await m.explain({ model, input: x, target });
      const s = (performance.now() - t0) / 1000;
      times.push(`${m.id} ${s.toFixed(2)} s`);
      const map = e.maps[0];
      expect(e.warnings[0], m.id).toEqual([]);
      expect(map.length).toBe(224 * 224);
      expect(Math.max(...map) - Math.min(...map), m.id).toBeGreaterThan(0);
      if (ON_CUP.has(m.id)) {
        // The strongest 1% of pixels lie on the cup far more often than the box's share of the image.
        const order = Array.from(map, (v, i) => [v, i]).sort((a, b) => b[0] - a[0]);
        const top = order.slice(0, Math.round(0.01 * map.length));
        const inBox = (i: number) => {
          const px = i % 224;
          const py = Math.floor(i / 224);
          return px >= BOX[0] && px < BOX[2] && py >= BOX[1] && py < BOX[3];
        };
        const onCup = top.filter(([, i]) => inBox(i)).length / top.length;
        shares.push(`${m.id} ${onCup.toFixed(2)}`);
        expect(onCup, m.id).toBeGreaterThan(0.9);
      }
      if (m.id === 'deeplift' || m.id === 'deeplift-shap') {
        const d = (e.meta.convergenceDelta as number[])[0];
        const diff = (e.meta.scoreDifference as number[])[0];
        expect(Math.abs(d), m.id).toBeLessThan(1e-3 * Math.max(1, Math.abs(diff)));
      }
      if (m.id === 'shapley-sampling')
        expect(Math.abs((e.meta.efficiencyGap as number[])[0])).toBeLessThan(1e-6);
    }
    console.log(
      `MobileNet 0.25, one 224×224 image: ${times.join(', ')}; top-1% on the cup: ${shares.join(', ')}`,
    );
    expect(tf.memory().numTensors).toBe(before);
  }, 300_000);
});
