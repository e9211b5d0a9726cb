import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage } from '@convlens/core/render/image';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelledPanel, readImage, writePng } from '../src/io/png.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'convlens-png-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('PNG IO', () => {
  it('round-trips pixels exactly and converts channels', async () => {
    const img = createImage(4, 3, [0, 0, 0, 255]);
    for (let i = 0; i < 12; i++) img.data.set([i * 20, 255 - i * 20, 7, 255], i * 4);
    const f = join(dir, 'a.png');
    await writePng(f, img);
    const rgb = await readImage(f, { width: 4, height: 3, channels: 3 });
    expect(rgb.original).toEqual({ width: 4, height: 3, channels: 4 });
    for (let i = 0; i < 12; i++) {
      expect(rgb.pixels[i * 3]).toBeCloseTo((i * 20) / 255, 6);
      expect(rgb.pixels[i * 3 + 1]).toBeCloseTo((255 - i * 20) / 255, 6);
    }
    const gray = await readImage(f, { width: 2, height: 2, channels: 1 });
    expect(gray.pixels).toHaveLength(4);
  });

  it('labelled panels grow to fit their text and keep the image pixels', async () => {
    const img = createImage(10, 10, [255, 0, 0, 255]);
    const p = await labelledPanel(img, { title: 'a long title for a small map', caption: ['min 0 max 1'] });
    expect(p.width).toBeGreaterThan(100);
    expect(p.height).toBeGreaterThan(30);
    const cx = Math.floor(p.width / 2);
    const top = p.data.findIndex(
      (_, i) => i % 4 === 0 && p.data[i] === 255 && p.data[i + 1] === 0 && (i / 4) % p.width === cx,
    );
    expect(top).toBeGreaterThan(0);
  });

  it('names the file and the problem for missing, non-image and truncated files', async () => {
    await expect(readImage(join(dir, 'nope.png'), { width: 2, height: 2, channels: 1 })).rejects.toThrow(
      /nope\.png: cannot read image \(file not found\)/,
    );
    const txt = join(dir, 'x.png');
    await writeFile(txt, 'not an image at all');
    await expect(readImage(txt, { width: 2, height: 2, channels: 1 })).rejects.toThrow(
      /x\.png: not a readable image/,
    );
    const good = join(dir, 'b.png');
    const big = createImage(64, 64, [1, 2, 3, 255]);
    for (let i = 0; i < big.data.length; i += 4) big.data[i] = (i * 7919) % 251;
    await writePng(good, big);
    const bytes = await import('node:fs/promises').then((fs) => fs.readFile(good));
    const cut = join(dir, 'cut.png');
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expect(readImage(cut, { width: 8, height: 8, channels: 1 })).rejects.toThrow(/cut\.png: /);
  });
});
