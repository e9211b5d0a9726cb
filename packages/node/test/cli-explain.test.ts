// `convlens explain` on the real ImageNet MobileNet and photos in ../shared: the cat is in the top-5
// and Grad-CAM's mass lies on it; espresso comes first on coffee.png and the mass lies on the cup.
// Plus the command's outputs and its one-line errors.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { getExplainMethod } from '@convlens/core/methods/explain/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/io/model-io.ts';
import { readImage } from '../src/io/png.ts';
import { errorLines, runCli } from './cli-helpers.ts';

const SHARED = resolve(import.meta.dirname, '../../../../shared');
const MODEL = join(SHARED, 'models/mobilenet_v1_0.25_224/model.json');
const IMAGES = join(SHARED, 'images');
const have = existsSync(MODEL) && existsSync(join(IMAGES, 'coffee.png'));

/** Boxes in the 224×224 resized image, [x0, y0, x1, y1], read off the photos. */
const BOXES: Record<string, [number, number, number, number]> = {
  // The cup and saucer fill the upper four-fifths; the bottom strip is table.
  coffee: [15, 0, 210, 165],
  // The cat's head and body; the right edge is background.
  chelsea: [0, 0, 200, 224],
};

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'convlens-explain-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe.skipIf(!have)('explain on MobileNet v1 0.25 (real photos)', () => {
  it('puts the cat in the top-5 and espresso first, with Grad-CAM mass on them', async () => {
    await initBackend('wasm');
    const { model } = await loadModel(MODEL);
    const labels: string[] = JSON.parse(
      await readFile(join(SHARED, 'models/mobilenet_v1_0.25_224/metadata.json'), 'utf8'),
    ).labels;
    for (const [name, box] of Object.entries(BOXES)) {
      const img = await readImage(join(IMAGES, `${name}.png`), { width: 224, height: 224, channels: 3 });
      const x = tf.tidy(() => tf.sub(tf.mul(tf.tensor4d(img.pixels, [1, 224, 224, 3]), 2), 1)) as tf.Tensor4D;
      const p = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
      const top = [...p]
        .map((v, i) => [v, i])
        .sort((a, b) => b[0] - a[0])
        .slice(0, 5)
        .map(([, i]) => labels[i]);
      if (name === 'coffee') expect(top[0]).toBe('espresso');
      else expect(top.some((l) => /\bcat\b/.test(l))).toBe(true);
      const target = [...p].indexOf(Math.max(...p));
      const e = await getExplainMethod('gradcam').explain({
        model,
        input: x,
        target,
        layer: 'conv_pw_13_relu',
      });
      const m = e.maps[0];
      let inside = 0;
      let total = 0;
      for (let i = 0; i < m.length; i++) {
        const px = i % 224;
        const py = Math.floor(i / 224);
        total += m[i];
        if (px >= box[0] && px < box[2] && py >= box[1] && py < box[3]) inside += m[i];
      }
      const boxShare = ((box[2] - box[0]) * (box[3] - box[1])) / (224 * 224);
      // Most of the mass in the box, and clearly more than a uniform map would put there.
      expect(inside / total, name).toBeGreaterThan(0.6);
      expect(inside / total, name).toBeGreaterThan(boxShare);
      x.dispose();
    }
    model.dispose();
  });

  it('writes overlays, a side-by-side panel and an index for several photos', async () => {
    const out = join(tmp, 'mobilenet');
    const r = await runCli([
      'explain',
      '--model',
      MODEL,
      '--image',
      `${join(IMAGES, 'coffee.png')},${join(IMAGES, 'chelsea.png')}`,
      '--method',
      'gradcam,saliency',
      '--input-range',
      '-1,1',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const index = JSON.parse(r.stdout);
    expect(index.inputs).toHaveLength(2);
    expect(index.inputs[0].top[0].name).toBe('espresso');
    expect(index.inputs[0].methods.map((m: any) => m.method)).toEqual(['gradcam', 'saliency']);
    expect(index.inputs[0].methods[0].layer).toBe('conv_pw_13_relu');
    for (const e of index.inputs) {
      expect(existsSync(join(out, e.panel))).toBe(true);
      for (const m of e.methods) expect(existsSync(join(out, m.file))).toBe(true);
    }
    expect(r.stderr).toMatch(/resized\/converted to 224×224×3 .*\(shorter side, centre crop\)/);
  });
});

describe('explain: bad input', () => {
  it('rejects unreadable images, unknown methods, bad classes and layers in one line, writing nothing', async () => {
    const junk = join(tmp, 'junk.png');
    await writeFile(junk, 'not an image at all');
    const cases: [string[], RegExp][] = [
      [['--image', junk], /junk\.png: not a readable image/],
      [['--image', join(IMAGES, 'coffee.png'), '--method', 'magic'], /unknown method 'magic' \(valid: /],
      [
        ['--image', join(IMAGES, 'coffee.png'), '--method', 'gradcam', '--class', '1000'],
        /--class 1000 is out of range: the model has 1000 classes/,
      ],
      [
        ['--image', join(IMAGES, 'coffee.png'), '--method', 'gradcam', '--layer', 'conv_preds_flat'],
        /no layer 'conv_preds_flat'|has no spatial output/,
      ],
      [['--image', join(IMAGES, 'coffee.png'), '--input-range', '1,0'], /--input-range must be LOW,HIGH/],
    ];
    for (const [args, re] of have ? cases : cases.slice(0, 0)) {
      const out = join(tmp, 'bad');
      const r = await runCli(['explain', '--model', MODEL, ...args, '--out', out]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).not.toBe(0);
      const lines = errorLines(r.stderr);
      expect(lines.length, r.stderr).toBe(1);
      expect(lines[0]).toMatch(re);
      expect(existsSync(out)).toBe(false);
    }
    const missing = await runCli([
      'explain',
      '--model',
      join(tmp, 'nope/model.json'),
      '--image',
      junk,
      '--out',
      join(tmp, 'o'),
    ]);
    expect(missing.code).not.toBe(0);
    expect(errorLines(missing.stderr)[0]).toMatch(/nope\/model\.json: model not found/);
  });
});
