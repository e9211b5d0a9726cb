/**
 * The explorer served on models that are not training runs: MobileNet 0.25's tfjs folder (ImageNet class
 * names, [-1, 1] input, centre crop) and a Keras 3 .keras file, saved once as tfjs files in a cache
 * folder whose served files, loaded over HTTP as the browser does, predict as Keras did.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/io/model-io.ts';
import { openServeSource, type ServeSource } from '../src/serve/explorer-info.ts';
import { createExplorerServer } from '../src/serve/server.ts';
import { raw } from './serve-helpers.ts';

const MOBILENET = join(import.meta.dirname, '../../../../shared/models/mobilenet_v1_0.25_224');
const KERAS = join(import.meta.dirname, 'fixtures/keras3');

let tmp: string;
const servers: FastifyInstance[] = [];

async function serve(source: ServeSource): Promise<number> {
  const app = createExplorerServer({ source, appDir: join(tmp, 'app') });
  await app.listen({ port: 0, host: '127.0.0.1' });
  servers.push(app);
  return (app.server.address() as any).port;
}

const json = async (port: number, path: string) => {
  const r = await raw(port, path);
  expect(r.status).toBe(200);
  return JSON.parse(r.body.toString());
};

beforeAll(async () => {
  await initBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'convlens-serve-models-'));
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await rm(tmp, { recursive: true, force: true });
});

describe.skipIf(!existsSync(MOBILENET))('MobileNet 0.25 (tfjs folder)', () => {
  it('answers /api/info with 1000 ImageNet names, scale-1-1, crop and conv_preds logits', async () => {
    const port = await serve(await openServeSource(MOBILENET));
    const info = await json(port, '/api/info');
    expect(info.classNames).toHaveLength(1000);
    expect(info.classNames[967]).toBe('espresso');
    expect(info.named).toBe(true);
    expect(info.inputShape).toEqual([224, 224, 3]);
    expect(info.preprocess).toEqual({ preset: 'scale-1-1', resize: 'crop' });
    expect(info.scores).toEqual({ kind: 'logits', from: 'conv_preds' });
    expect(info.source).toBe('model');
    expect(info.title).toBe('mobilenet_v1_0.25_224');
    // Its model.json names the same files.
    const byFile = await openServeSource(join(MOBILENET, 'model.json'));
    expect([byFile.modelDir, byFile.info.modelUrl, byFile.info.title]).toEqual([
      MOBILENET,
      '/files/model/model.json',
      'mobilenet_v1_0.25_224',
    ]);
    // The folder itself is served: model.json and its 55 shards.
    expect(info.modelUrl).toBe('/files/model/model.json');
    const model = await json(port, info.modelUrl);
    expect(model.weightsManifest.flatMap((g: any) => g.paths)).toHaveLength(55);
    expect((await raw(port, '/files/model/group55-shard1of1')).status).toBe(200);

    // Uploads follow the crop policy: a 448×224 picture with a green centre square and red sides
    // becomes all green (a stretch would keep red on both sides).
    const photo = await sharp({
      create: { width: 448, height: 224, channels: 3, background: { r: 220, g: 20, b: 20 } },
    })
      .composite([
        {
          input: await sharp({
            create: { width: 224, height: 224, channels: 3, background: { r: 20, g: 200, b: 20 } },
          })
            .png()
            .toBuffer(),
          left: 112,
          top: 0,
        },
      ])
      .png()
      .toBuffer();
    const r = await raw(port, '/api/upload', {
      method: 'POST',
      body: photo,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(r.status).toBe(200);
    const { data, info: png } = await sharp(r.body).raw().toBuffer({ resolveWithObject: true });
    expect([png.width, png.height, png.channels]).toEqual([224, 224, 3]);
    for (const x of [0, 112, 223]) {
      const i = (112 * 224 + x) * 3;
      expect([data[i], data[i + 1], data[i + 2]]).toEqual([20, 200, 20]);
    }
  });
});

describe('Keras 3 .keras file', () => {
  it('is saved once as tfjs files in the cache; served over HTTP it predicts as Keras did', async () => {
    const cacheDir = join(tmp, 'cache');
    const file = join(KERAS, 'branchy.keras');
    const first = await openServeSource(file, { cacheDir });
    expect(first.modelDir.startsWith(cacheDir)).toBe(true);
    const saved = (await stat(join(first.modelDir, 'model.json'))).mtimeMs;
    const again = await openServeSource(file, { cacheDir });
    expect(again.modelDir).toBe(first.modelDir);
    expect((await stat(join(again.modelDir, 'model.json'))).mtimeMs).toBe(saved);

    const port = await serve(first);
    const info = await json(port, '/api/info');
    expect(info).toMatchObject({
      title: 'branchy',
      kind: 'keras-zip',
      source: 'model',
      inputShape: [12, 12, 1],
      classNames: ['0', '1', '2', '3', '4'],
      named: false,
      preprocess: { preset: 'scale01', resize: 'fill' },
      modelUrl: '/files/model/model.json',
    });
    const exp = JSON.parse(await readFile(join(KERAS, 'expected.json'), 'utf8'));
    const model = await tf.loadLayersModel(`http://127.0.0.1:${port}${info.modelUrl}`);
    const x = tf.tensor4d(exp.input, exp.shape);
    const y = model.predict(x) as tf.Tensor;
    const got = await y.data();
    tf.dispose([x, y]);
    model.dispose();
    expect(got.length).toBe(15);
    expect(Math.max(...exp.predictions.map((v: number, i: number) => Math.abs(v - got[i])))).toBeLessThan(
      1e-5,
    );

    // That served model.json as an http(s) source in turn: saved into the cache, same predictions.
    const byUrl = await openServeSource(`http://127.0.0.1:${port}${info.modelUrl}`, { cacheDir });
    expect(byUrl.info.kind).toBe('tfjs-url');
    expect(byUrl.modelDir.startsWith(cacheDir)).toBe(true);
    expect(byUrl.modelDir).not.toBe(first.modelDir);
    const copy = (await loadModel(byUrl.modelDir)).model;
    const x2 = tf.tensor4d(exp.input, exp.shape);
    const y2 = copy.predict(x2) as tf.Tensor;
    expect(Array.from(await y2.data())).toEqual(Array.from(got));
    tf.dispose([x2, y2]);
    copy.dispose();
  });

  it('takes class names from --labels and the preset from --preset', async () => {
    const labels = join(tmp, 'labels.json');
    await writeFile(labels, JSON.stringify(['a', 'b', 'c', 'd', 'e']));
    const { info } = await openServeSource(join(KERAS, 'branchy.h5'), {
      cacheDir: join(tmp, 'cache'),
      labels,
      inputRange: '-1,1',
      resize: 'crop',
    });
    expect(info.classNames).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(info.named).toBe(true);
    expect(info.kind).toBe('keras-h5');
    expect(info.preprocess).toEqual({ preset: 'scale-1-1', resize: 'crop' });
    expect(info.notices).toEqual([]);
  });
});
