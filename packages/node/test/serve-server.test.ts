/**
 * The explorer's HTTP server over real loopback HTTP: model info from a run and from a bare model.json,
 * file serving confined to its roots (../, encoded, double-encoded, absolute, backslash, NUL, symlink),
 * and uploads checked by content and size, with the server still serving after every bad request.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openServeSource } from '../src/serve/explorer-info.ts';
import { createExplorerServer } from '../src/serve/server.ts';
import { MAX_UPLOAD_BYTES } from '../src/serve/upload.ts';
import { quadrantImages, writeQuadrantDataset } from './cli-helpers.ts';
import { raw, solidPng, writeTinyModel, writeTinyRun } from './serve-helpers.ts';

let tmp: string;
let app: FastifyInstance;
let port: number;
const SECRET = 'TOP-SECRET-OUTSIDE-THE-ROOTS';

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'convlens-serve-'));
  await writeFile(join(tmp, 'secret.txt'), SECRET);
  const appDir = join(tmp, 'app');
  await mkdir(appDir);
  await writeFile(join(appDir, 'index.html'), '<!doctype html><title>app</title>');
  await writeTinyModel(join(tmp, 'rgb'), [32, 32, 3], 3);
  await writeFile(join(tmp, 'rgb', 'metadata.json'), JSON.stringify({ labels: ['cat', 'dog', 'bird'] }));
  await symlink(join(tmp, 'secret.txt'), join(tmp, 'rgb', 'link.txt'));
  const source = await openServeSource(join(tmp, 'rgb', 'model.json'));
  app = createExplorerServer({ source, appDir });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as any).port;
});

afterAll(async () => {
  await app?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('model information', () => {
  it('describes a bare model.json: shape, labels from metadata.json, [-1, 1] input for RGB (said)', async () => {
    const r = await raw(port, '/api/info');
    expect(r.status).toBe(200);
    const info = JSON.parse(r.body.toString());
    expect(info.inputShape).toEqual([32, 32, 3]);
    expect(info.classNames).toEqual(['cat', 'dog', 'bird']);
    expect(info.named).toBe(true);
    // Nothing recorded: openModel assumes [-1, 1] for RGB and says so; 32×32 is small enough to stretch.
    expect(info.preprocess).toEqual({ preset: 'scale-1-1', resize: 'fill' });
    expect(info.notices.join('\n')).toMatch(/records no preprocessing; assuming scale-1-1/);
    expect(info.scores).toEqual({ kind: 'logits', from: 'probs' });
    const model = await raw(port, info.modelUrl);
    expect(model.status).toBe(200);
    expect(JSON.parse(model.body.toString()).weightsManifest[0].paths).toEqual(['weights.bin']);
    expect((await raw(port, '/files/model/weights.bin')).status).toBe(200);
  });

  it('describes a run: class names, history records, snapshots by epoch, stats top-k figures', async () => {
    const dir = join(tmp, 'run');
    await writeTinyRun(dir, { snapshots: [2, 10, 1], stats: true });
    const { info, runDir } = await openServeSource(dir);
    expect(runDir).toBe(dir);
    expect(info.inputShape).toEqual([28, 28, 1]);
    expect(info.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(info.named).toBe(false);
    expect(info.source).toBe('run');
    expect(info.preprocess).toEqual({ preset: 'scale01', resize: 'fill' });
    expect(info.history).toEqual([
      { epoch: 1, loss: 1.5, acc: 0.5 },
      { epoch: 2, loss: 0.9, acc: 0.7 },
    ]);
    expect(info.snapshots.map((s) => s.epoch)).toEqual([1, 2, 10]);
    expect(info.snapshots[0].modelUrl).toBe('/files/snapshots/epoch-1/model.json');
    expect(info.topK).toEqual([{ layer: 'conv1', url: '/files/run/stats/top-k-conv1.png', filters: 2 }]);
  });

  it('answers the method ranking as data: none yet (200, how to make one), then the newest cached one', async () => {
    const none = await raw(port, '/api/method-ranking');
    expect(none.status).toBe(200);
    expect(JSON.parse(none.body.toString())).toMatchObject({ ranking: null, message: /no run directory/ });
    const dir = join(tmp, 'ranked');
    await writeTinyRun(dir);
    const runApp = createExplorerServer({ source: await openServeSource(dir), appDir: join(tmp, 'app') });
    await runApp.listen({ port: 0, host: '127.0.0.1' });
    try {
      const p = (runApp.server.address() as any).port;
      expect(JSON.parse((await raw(p, '/api/method-ranking')).body.toString()).message).toMatch(
        /--method auto/,
      );
      await mkdir(join(dir, 'method-ranking'));
      const row = { key: 'saliency', method: 'saliency', control: false, trusted: true, flags: [] };
      for (const [f, date, key] of [
        ['a.json', '2026-01-01T00:00:00Z', 'old'],
        ['b.json', '2026-02-01T00:00:00Z', 'new'],
      ])
        await writeFile(join(dir, 'method-ranking', f), JSON.stringify({ date, rows: [{ ...row, key }] }));
      await writeFile(join(dir, 'method-ranking', 'broken.json'), '{');
      const r = await raw(p, '/api/method-ranking');
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body.toString()).ranking.rows[0].key).toBe('new');
    } finally {
      await runApp.close();
    }
  });

  it("finds a lab folder's run and its per-epoch models (LAB/epochs/eNN), and serves them", async () => {
    const lab = join(tmp, 'lab');
    await writeTinyRun(join(lab, 'run'));
    for (const e of ['e01', 'e02']) await writeTinyModel(join(lab, 'epochs', e), [28, 28, 1]);
    await writeFile(join(lab, 'epochs', 'notes.txt'), 'not an epoch');
    const source = await openServeSource(lab);
    expect(source.runDir).toBe(join(lab, 'run'));
    expect(source.info.snapshots).toEqual([
      { epoch: 1, modelUrl: '/files/snapshots/e01/model.json' },
      { epoch: 2, modelUrl: '/files/snapshots/e02/model.json' },
    ]);
    const labApp = createExplorerServer({ source, appDir: join(tmp, 'app') });
    await labApp.listen({ port: 0, host: '127.0.0.1' });
    try {
      const p = (labApp.server.address() as any).port;
      expect((await raw(p, '/files/snapshots/e02/model.json')).status).toBe(200);
      expect((await raw(p, '/files/snapshots/e02/weights.bin')).status).toBe(200);
      expect((await raw(p, '/files/run/run.json')).status).toBe(200);
      expect((await raw(p, '/files/snapshots/../run/run.json')).status).toBe(404);
      expect((await raw(p, '/files/snapshots/%2e%2e%2frun%2frun.json')).status).toBe(404);
    } finally {
      await labApp.close();
    }
  });

  it('rejects a model.json that is not a tfjs model, a missing file and an unknown format, naming the file', async () => {
    const bad = join(tmp, 'bad.json');
    await writeFile(bad, JSON.stringify({ hello: 1 }));
    await expect(openServeSource(bad)).rejects.toThrow(/bad\.json: not a tfjs model/);
    await expect(openServeSource(join(tmp, 'nope.json'))).rejects.toThrow(/nope\.json: model not found/);
    await expect(openServeSource(join(tmp, 'secret.txt'))).rejects.toThrow(
      /secret\.txt: unsupported model format '\.txt'/,
    );
  });
});

describe('top-k patches from a stats run', () => {
  it("crops the patches the stats index names from the run's dataset", async () => {
    const run = join(tmp, 'qrun');
    const data = await writeQuadrantDataset(join(tmp, 'qdata'), 8, 32);
    await writeTinyModel(join(run, 'model'), [16, 16, 1]);
    await writeFile(
      join(run, 'run.json'),
      JSON.stringify({ version: 1, model: 'tiny', dataset: data, inputShape: [16, 16, 1], numClasses: 4 }),
    );
    await mkdir(join(run, 'stats'));
    const box = { y0: 2, x0: 3, y1: 9, x1: 7 }; // 8 rows × 5 columns
    await writeFile(
      join(run, 'stats', 'index.json'),
      JSON.stringify({
        dataset: `${data} (first 32)`,
        files: [
          {
            file: 'top-k-conv1.png',
            kind: 'top-k',
            layer: 'conv1',
            filters: [
              { filter: 0, entries: [] },
              {
                filter: 1,
                entries: [
                  { image: 5, label: 1, value: 2.5, box },
                  { image: 30, label: 2, value: 1.25, box },
                ],
              },
            ],
          },
        ],
      }),
    );
    const qapp = createExplorerServer({ source: await openServeSource(run), appDir: join(tmp, 'app') });
    await qapp.listen({ port: 0, host: '127.0.0.1' });
    try {
      const p = (qapp.server.address() as any).port;
      const r = await raw(p, '/api/topk?layer=conv1&filter=1');
      expect(r.status).toBe(200);
      const { patches } = JSON.parse(r.body.toString());
      expect(patches.map((x: any) => [x.image, x.label, x.value])).toEqual([
        [5, 1, 2.5],
        [30, 2, 1.25],
      ]);
      const test = quadrantImages(32, 2).images; // the fixture's test split
      for (const patch of patches) {
        const png = Buffer.from(patch.png.split(',')[1], 'base64');
        const { data: px, info } = await sharp(png)
          .extractChannel(0)
          .raw()
          .toBuffer({ resolveWithObject: true });
        expect([info.width, info.height, info.channels]).toEqual([5, 8, 1]);
        for (let y = 0; y < 8; y++)
          for (let x = 0; x < 5; x++)
            expect(px[y * 5 + x]).toBe(test[patch.image * 256 + (2 + y) * 16 + (3 + x)]);
      }
      expect(JSON.parse((await raw(p, '/api/topk?layer=conv1&filter=0')).body.toString()).patches).toEqual(
        [],
      );
      const unknown = await raw(p, '/api/topk?layer=conv9&filter=0');
      expect(unknown.status).toBe(404);
      expect(JSON.parse(unknown.body.toString()).error).toMatch(/no top-k for layer 'conv9'/);
      expect((await raw(p, '/api/topk?layer=conv1&filter=-1')).status).toBe(400);
    } finally {
      await qapp.close();
    }
    const none = await raw(port, '/api/topk?layer=conv1&filter=0');
    expect(none.status).toBe(404);
  });
});

describe('no path traversal', () => {
  const attempts = [
    '/files/model/../secret.txt',
    '/files/model/../../secret.txt',
    '/files/model/%2e%2e/secret.txt',
    '/files/model/%2e%2e%2fsecret.txt',
    '/files/model/%2E%2E%2Fsecret.txt',
    '/files/model/..%2fsecret.txt',
    '/files/model/%252e%252e%252fsecret.txt',
    '/files/model/..%255csecret.txt',
    '/files/model/..%5csecret.txt',
    '/files/model/..\\secret.txt',
    '/files/model/{ABS_ENCODED}',
    '/files/model/{ABS}',
    '/files/model//{ABS}',
    '/files/model/link.txt',
    '/files/model/model.json%00.txt',
    '/%2e%2e/secret.txt',
    '/..%2f..%2fsecret.txt',
    '/tfjs-wasm/..%2f..%2f..%2fpackage.json',
    '/files/run/../secret.txt',
  ];
  for (const path of attempts) {
    it(`refuses ${path}`, async () => {
      const abs = join(tmp, 'secret.txt');
      const r = await raw(port, path.replace('{ABS_ENCODED}', encodeURIComponent(abs)).replace('{ABS}', abs));
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(r.body.toString()).not.toContain(SECRET);
      expect(r.body.toString()).not.toContain('"name"');
    });
  }

  it('still serves files inside its roots', async () => {
    expect((await raw(port, '/')).body.toString()).toContain('<title>app</title>');
    expect((await raw(port, '/index.html')).status).toBe(200);
    expect((await raw(port, '/tfjs-wasm/tfjs-backend-wasm-simd.wasm')).headers['content-type']).toBe(
      'application/wasm',
    );
  });
});

describe('uploads', () => {
  const post = (body: Buffer, type = 'application/octet-stream') =>
    raw(port, '/api/upload', { method: 'POST', body, headers: { 'content-type': type } });

  it('downscales a photo to the model input (RGB PNG at 32×32)', async () => {
    const photo = await sharp({
      create: { width: 640, height: 480, channels: 3, background: { r: 200, g: 30, b: 10 } },
    })
      .jpeg()
      .toBuffer();
    const r = await post(photo, 'image/png'); // a wrong declared type does not matter: content decides
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('image/png');
    expect(r.headers['x-original-size']).toBe('640x480');
    const { data, info } = await sharp(r.body).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([32, 32, 3]);
    expect(Math.abs(data[0] - 200)).toBeLessThan(4);
    expect(Math.abs(data[2] - 10)).toBeLessThan(4);
  });

  it('refuses content that is not an image, whatever its declared type', async () => {
    const r = await post(Buffer.from('#!/bin/sh\necho this is not a png\n'), 'image/png');
    expect(r.status).toBe(415);
    expect(JSON.parse(r.body.toString()).error).toMatch(/^not an image/);
    const pdf = await post(Buffer.from('%PDF-1.4\n%âãÏÓ\n1 0 obj\n<<>>\nendobj\n'));
    expect(pdf.status).toBe(415);
    expect(JSON.parse(pdf.body.toString()).error).toMatch(/application\/pdf/);
  });

  it('refuses a truncated image with a specific message', async () => {
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#888' } })
      .png()
      .toBuffer();
    const r = await post(png.subarray(0, 40));
    expect(r.status).toBe(415);
    expect(JSON.parse(r.body.toString()).error).toMatch(/could not be decoded/);
  });

  it('refuses uploads over 10 MB and images over the pixel limit', async () => {
    const big = Buffer.alloc(MAX_UPLOAD_BYTES + 1024, 7);
    const r = await post(big);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body.toString()).error).toMatch(/larger than the 10 MB limit/);
    const huge = await sharp({ create: { width: 9000, height: 6000, channels: 3, background: '#000' } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    expect(huge.length).toBeLessThan(MAX_UPLOAD_BYTES);
    const h = await post(huge);
    expect(h.status).toBe(413);
    expect(JSON.parse(h.body.toString()).error).toBe(
      'image is 9000×6000: 54 megapixels exceeds the limit of 40 megapixels',
    );
  });

  it('refuses a valid 20000×20000 PNG by the megapixel limit read from its header (413, not "corrupt")', async () => {
    const png = solidPng(20_000, 20_000);
    expect(png.length).toBeLessThan(100_000);
    // Valid: its header and pixels decode (sharp reads it when told there is no pixel limit).
    const meta = await sharp(png, { limitInputPixels: false }).metadata();
    expect([meta.width, meta.height]).toEqual([20_000, 20_000]);
    const t0 = performance.now();
    const r = await post(png, 'image/png');
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body.toString()).error).toBe(
      'image is 20000×20000: 400 megapixels exceeds the limit of 40 megapixels',
    );
    // Refused from the header: decoding 400 MP would take seconds and over a GB.
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('keeps serving after bad requests', async () => {
    expect((await post(Buffer.alloc(0))).status).toBe(400);
    const r = await raw(port, '/api/info');
    expect(r.status).toBe(200);
  });
});
