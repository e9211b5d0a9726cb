/**
 * The explorer's input pipeline against the CLI's: the same file through the server's upload (fitted
 * by the model's resize policy), read back as RGBA as a canvas gives it, turned into pixels and model
 * input with the Preprocess from /api/info, equals what core's applyPreprocess gives the CLI for that
 * file (io/png.ts readImage + the model openModel returns), value for value. For a run with a
 * per-pixel standardizer (grey, stretched) and for MobileNet 0.25 (RGB, [-1, 1], centre crop).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@convlens/core/engine/backend';
import type { ExplorerInfo } from '@convlens/core/explorer/protocol';
import { applyPreprocess } from '@convlens/core/preprocess/presets';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImage } from '../../node/src/io/png.ts';
import { openModel } from '../../node/src/open/open-model.ts';
import { openServeSource } from '../../node/src/serve/explorer-info.ts';
import { createExplorerServer } from '../../node/src/serve/server.ts';
import { raw, writeTinyRun } from '../../node/test/serve-helpers.ts';
import { modelInput, rgbaToPixels, sourceRect } from '../src/lib/input.ts';

const SHARED = join(import.meta.dirname, '../../../../shared');
const MOBILENET = join(SHARED, 'models/mobilenet_v1_0.25_224');
const CHELSEA = join(SHARED, 'images/chelsea.png'); // 451×300
const COFFEE = join(SHARED, 'images/coffee.png'); // 600×400

let tmp: string;
beforeAll(async () => {
  await initBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'convlens-web-input-'));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

function extent(x: Float32Array) {
  let min = Infinity;
  let max = -Infinity;
  for (const v of x) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { min, max };
}

/** What the page does: /api/info, upload the file, decode the PNG to RGBA, pixels, model input. */
async function explorerInput(
  source: string,
  image: string,
): Promise<{ info: ExplorerInfo; x: Float32Array }> {
  const app = createExplorerServer({ source: await openServeSource(source), appDir: tmp });
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const port = (app.server.address() as any).port;
    const info: ExplorerInfo = JSON.parse((await raw(port, '/api/info')).body.toString());
    const up = await raw(port, '/api/upload', {
      method: 'POST',
      body: await readFile(image),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(up.status).toBe(200);
    const { data, info: png } = await sharp(up.body)
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const [h, w, c] = info.inputShape;
    expect([png.width, png.height]).toEqual([w, h]);
    return { info, x: modelInput(info.preprocess, rgbaToPixels(data, w, h, c), info.inputShape) };
  } finally {
    await app.close();
  }
}

/** What the CLI does: readImage at the model's size and policy, then core's applyPreprocess. */
async function cliInput(source: string, image: string): Promise<Float32Array> {
  const m = await openModel(source);
  try {
    const [height, width, channels] = m.inputShape;
    const img = await readImage(image, {
      width,
      height,
      channels: channels as 1 | 3,
      resize: m.preprocess.resize,
    });
    return applyPreprocess(m.preprocess, img.pixels, channels);
  } finally {
    m.dispose();
  }
}

describe('sourceRect (the resize policy for canvas drawImage)', () => {
  it('crop keeps the centred part of the input aspect; fill takes the whole image', () => {
    expect(sourceRect(448, 224, 224, 224, 'crop')).toEqual({ x: 112, y: 0, width: 224, height: 224 });
    expect(sourceRect(600, 400, 224, 224, 'crop')).toEqual({ x: 100, y: 0, width: 400, height: 400 });
    expect(sourceRect(300, 400, 28, 28, 'crop')).toEqual({ x: 0, y: 50, width: 300, height: 300 });
    expect(sourceRect(600, 400, 224, 112, 'crop')).toEqual({ x: 0, y: 50, width: 600, height: 300 });
    expect(sourceRect(600, 400, 224, 224, 'fill')).toEqual({ x: 0, y: 0, width: 600, height: 400 });
  });

  it('rgbaToPixels: RGB in [0, 1], grey from equal channels, luma otherwise', () => {
    const rgba = [255, 0, 51, 255, 10, 10, 10, 255];
    expect(Array.from(rgbaToPixels(rgba, 2, 1, 3))).toEqual(
      [1, 0, 0.2, 10 / 255, 10 / 255, 10 / 255].map(Math.fround),
    );
    expect(Array.from(rgbaToPixels(rgba, 2, 1, 1))).toEqual(
      [(0.2126 * 255 + 0.0722 * 51) / 255, 10 / 255].map(Math.fround),
    );
    expect(() => rgbaToPixels(rgba, 3, 1, 3)).toThrow(/8 bytes, expected 3×1×4/);
  });
});

describe('explorer input = core applyPreprocess', () => {
  it('a run with a per-pixel standardizer (28×28 grey, odd-size photo stretched)', async () => {
    const run = join(tmp, 'run');
    await writeTinyRun(run);
    const n = 28 * 28;
    const mean = Array.from({ length: n }, (_, i) => 0.1 + 0.3 * Math.sin(i));
    const std = Array.from({ length: n }, (_, i) => 0.2 + 0.1 * Math.cos(i));
    const config = JSON.parse(await readFile(join(run, 'run.json'), 'utf8'));
    config.standardizer = { kind: 'per-pixel', height: 28, width: 28, channels: 1, epsilon: 1e-7, mean, std };
    await writeFile(join(run, 'run.json'), JSON.stringify(config));

    const { info, x } = await explorerInput(run, CHELSEA);
    expect(info.preprocess.preset).toBe('per-pixel');
    expect(info.preprocess.resize).toBe('fill');
    const expected = await cliInput(run, CHELSEA);
    expect(x).toEqual(expected);
    // Standardized, not [0, 1]: pixel 0 is (v − mean₀)/std₀.
    expect(extent(x).min).toBeLessThan(-0.5);
  });

  it.skipIf(!existsSync(MOBILENET))(
    'MobileNet 0.25 (224×224 RGB, [-1, 1], 600×400 photo centre-cropped)',
    async () => {
      const { info, x } = await explorerInput(MOBILENET, COFFEE);
      expect(info.preprocess).toEqual({ preset: 'scale-1-1', resize: 'crop' });
      const expected = await cliInput(MOBILENET, COFFEE);
      expect(x.length).toBe(224 * 224 * 3);
      expect(x).toEqual(expected);
      const { min, max } = extent(x);
      expect(min).toBeGreaterThanOrEqual(-1);
      expect(min).toBeLessThan(-0.9);
      expect(max).toBeLessThanOrEqual(1);
    },
  );
});
