// The CAM family and the controls on the real MobileNet v1 0.25 (coffee.png, conv_pw_13_relu): each
// runs once with its default budget, within seconds, with a time printed; Ablation-CAM agrees with
// Grad-CAM; FullGrad's decomposition is complete once ReLU6 (not homogeneous) is swapped for ReLU.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { scores } from '@convlens/core/methods/explain/common';
import { getExplainMethod } from '@convlens/core/methods/explain/registry';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/io/model-io.ts';
import { readImage } from '../src/io/png.ts';

const SHARED = resolve(import.meta.dirname, '../../../../shared');
const MODEL = join(SHARED, 'models/mobilenet_v1_0.25_224/model.json');
const IMAGE = join(SHARED, 'images/coffee.png');
const have = existsSync(MODEL) && existsSync(IMAGE);

function pearson(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

describe.skipIf(!have)('CAM family on MobileNet v1 0.25', () => {
  it('runs every new CAM variant and control in seconds, with sensible maps', async () => {
    await initBackend('wasm');
    const { model } = await loadModel(MODEL);
    const img = await readImage(IMAGE, { width: 224, height: 224, channels: 3 });
    const x = tf.tidy(() => tf.sub(tf.mul(tf.tensor4d(img.pixels, [1, 224, 224, 3]), 2), 1)) as tf.Tensor4D;
    const target = 967; // espresso
    const layer = 'conv_pw_13_relu';
    const maps: Record<string, Float32Array> = {};
    const run = async (id: string, options: Record<string, unknown> = {}, at = layer) => {
      const m = getExplainMethod(id);
      const t0 = performance.now();
      const e = await m.explain({ model, input: x, target, layer: m.needsLayer ? at : undefined, options });
      const s = (performance.now() - t0) / 1000;
      console.log(
        `${id}${Object.keys(options).length ? ` ${JSON.stringify(options)}` : ''}: ${s.toFixed(2)} s`,
      );
      expect(e.maps[0].every(Number.isFinite), id).toBe(true);
      expect(Math.max(...e.maps[0]) > Math.min(...e.maps[0]), id).toBe(true);
      expect(s, id).toBeLessThan(20);
      return e;
    };
    const before = tf.memory().numTensors;
    for (const id of [
      'gradcam',
      'gradcam-elementwise',
      'eigengradcam',
      'finercam',
      'ablationcam',
      'fem',
      'fullgrad',
      'randomcam',
      'sobel',
    ])
      maps[id] = (await run(id)).maps[0];
    await run('gradcam', { augSmooth: true, eigenSmooth: true });
    await run('gradcam', { fusion: 'mean' }, 'conv_pw_12_relu,conv_pw_13_relu');
    expect(tf.memory().numTensors).toBe(before);
    // Ablation-CAM and Grad-CAM both rate the channels for the class: their maps agree.
    expect(pearson(maps.ablationcam, maps.gradcam)).toBeGreaterThan(0.7);
    // FullGrad: with ReLU instead of ReLU6 the input and bias terms add up to the logit.
    const relu = (tf.layers.activation({ activation: 'relu' }) as unknown as { activation: unknown })
      .activation;
    for (const l of model.layers)
      if (l.name.endsWith('_relu')) (l as unknown as { activation: unknown }).activation = relu;
    const fg = await getExplainMethod('fullgrad').explain({ model, input: x, target });
    const logit = tf.tidy(() => scores(model, x).dataSync()[target]);
    expect(Math.abs(logit)).toBeGreaterThan(1);
    expect(Math.abs((fg.meta.completenessGap as number[])[0])).toBeLessThan(
      1e-3 * Math.max(1, Math.abs(logit)),
    );
    x.dispose();
    model.dispose();
  });
});
