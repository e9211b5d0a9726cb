/**
 * A converted ONNX model's PyTorch module names work wherever a layer is named: features --layer,
 * maximize --layer (filters), filters --layers, stats --layers/--mode-layers — each giving what the
 * tfjs layer's own name gives.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { parseNpy } from '@convlens/core/methods/actmax/npy';
import { findLayer } from '@convlens/core/models/layer-aliases';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset } from '../src/open/open-dataset.ts';
import { type OpenedModel, openModel } from '../src/open/open-model.ts';
import { extractFeatures } from '../src/tasks/features.ts';
import { filtersCommand } from '../src/tasks/filters.ts';
import { maximizeTask } from '../src/tasks/maximize.ts';
import { statsCommand } from '../src/tasks/stats.ts';
import { tinyTorchNet as net } from './onnx-tiny-fixture.ts';

let dir: string;
let m: OpenedModel;

beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'convlens-alias-'));
  await writeFile(join(dir, 'tiny.onnx'), net());
  m = await openModel(join(dir, 'tiny.onnx'), { log: () => {} });
  // A class-folder dataset of 8 small images (two classes, different colours and noise).
  for (const [c, cls] of ['red', 'blue'].entries()) {
    await mkdir(join(dir, 'photos', cls), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const px = Buffer.alloc(8 * 8 * 3);
      for (let k = 0; k < px.length; k++) px[k] = (k % 3 === c * 2 ? 200 : 30) + ((k * 37 + i * 11) % 50);
      await sharp(px, { raw: { width: 8, height: 8, channels: 3 } })
        .png()
        .toFile(join(dir, 'photos', cls, `${i}.png`));
    }
  }
});
afterAll(async () => {
  m?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('PyTorch module aliases in layer-taking tasks', () => {
  it('features --layer features.act writes the same rows and index as the layer’s own name', async () => {
    const own = findLayer(m.model, 'features.act')?.name;
    expect(own).toBeDefined();
    expect(own).not.toBe('features.act');
    const a = await extractFeatures({
      model: m,
      dataset: join(dir, 'photos'),
      layer: 'features.act',
      out: join(dir, 'fa'),
    });
    await extractFeatures({
      model: m,
      dataset: join(dir, 'photos'),
      layer: own!,
      out: join(dir, 'fb'),
    });
    expect(a.rows).toBe(8);
    expect(a.features).toBe(4);
    expect(a.layer).toBe(own);
    const fa = await readFile(join(dir, 'fa', 'features.npy'));
    expect(fa.equals(await readFile(join(dir, 'fb', 'features.npy')))).toBe(true);
    // Not all zeros (the ReLU passes something) and different per image, so equality means something.
    const v = parseNpy(fa).data;
    expect(Math.max(...v)).toBeGreaterThan(0.01);
    expect(v[0]).not.toBe(v[4 * 7]);
    const idx = JSON.parse(await readFile(join(dir, 'fa', 'index.json'), 'utf8'));
    expect(idx.layer).toBe(own);
    await expect(
      extractFeatures({
        model: m,
        dataset: join(dir, 'photos'),
        layer: 'features.nope',
        out: join(dir, 'fc'),
      }),
    ).rejects.toThrow(/^--layer features\.nope: no such layer/);
  });

  it('maximize --layer features.conv --filter 2 optimizes the same filter as the own name', async () => {
    const own = findLayer(m.model, 'features.conv')!.name;
    const before = tf.memory().numTensors;
    const run = (layer: string, out: string) =>
      maximizeTask(m, { layer, filter: [2], steps: 6, seed: 3, out: join(dir, out) });
    const a = await run('features.conv', 'ma');
    const b = await run(own, 'mb');
    expect(a.files.map((f) => f.curve)).toEqual(b.files.map((f) => f.curve));
    expect(a.files[0].curve.length).toBe(6);
    expect(a.files[0].curve.at(-1)).toBeGreaterThan(a.files[0].curve[0]);
    expect(tf.memory().numTensors).toBe(before);
    await expect(run('features.nope', 'mc')).rejects.toThrow(/no layer 'features\.nope'/);
  });

  it('filters --layers features.conv draws the conv layer', async () => {
    const own = findLayer(m.model, 'features.conv')!.name;
    const r = await filtersCommand({ model: m, layers: ['features.conv'], out: join(dir, 'filt') });
    expect(r.layers.map((l) => [l.layer, l.filters])).toEqual([[own, 4]]);
  });

  it('stats --layers/--mode-layers features.act keeps mode maps for that layer', async () => {
    const own = findLayer(m.model, 'features.act')!.name;
    const dataset = await openDataset(join(dir, 'photos'), m, {});
    const r = await statsCommand({
      model: m,
      dataset,
      out: join(dir, 'stats'),
      layers: ['features.act'],
      modeLayers: ['features.act'],
    });
    expect(r.images).toBe(8);
    expect(r.layers.map((l) => [l.layer, l.modeMaps])).toEqual([[own, true]]);
  });
});
