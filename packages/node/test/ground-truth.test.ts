import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGroundTruth } from '../src/open/ground-truth.ts';

let dir = '';
const png = (path: string, w: number, h: number, fill: (x: number, y: number) => number) =>
  sharp(Buffer.from(Array.from({ length: w * h }, (_, p) => fill(p % w, Math.floor(p / w)))), {
    raw: { width: w, height: h, channels: 1 },
  })
    .png()
    .toFile(path);
const rows = (m: Uint8Array, w: number) =>
  Array.from({ length: m.length / w }, (_, y) => Array.from(m.subarray(y * w, (y + 1) * w)).join(''));

describe('ground-truth regions beside images', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'convlens-gt-'));
    await png(join(dir, 'a.png'), 40, 20, () => 128);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('maps boxes through fill and centre-crop resizing', async () => {
    await writeFile(join(dir, 'a.json'), JSON.stringify({ boxes: [[0, 0, 20, 10]] }));
    const fill = await readGroundTruth(join(dir, 'a.png'), { width: 4, height: 2 });
    expect(rows(fill as Uint8Array, 4)).toEqual(['1100', '0000']);
    // crop to 10×10: scale 0.5 (20 px → 10), then the centre 10 of 20 columns: x 20…40 → 5…15 → 5…10.
    await writeFile(join(dir, 'a.json'), JSON.stringify({ boxes: [{ x0: 20, y0: 0, x1: 40, y1: 4 }] }));
    const crop = await readGroundTruth(join(dir, 'a.png'), { width: 10, height: 10, resize: 'crop' });
    expect(rows(crop as Uint8Array, 10).slice(0, 3)).toEqual(['0000011111', '0000011111', '0000000000']);
  });

  it('reads a mask image named in the JSON, and returns undefined without a JSON', async () => {
    await png(join(dir, 'b.png'), 8, 8, () => 0);
    await png(join(dir, 'b-mask.png'), 8, 8, (x, y) => (x >= 4 && y < 4 ? 255 : 0));
    await writeFile(join(dir, 'b.json'), JSON.stringify({ mask: 'b-mask.png' }));
    const m = await readGroundTruth(join(dir, 'b.png'), { width: 4, height: 4 });
    expect(rows(m as Uint8Array, 4)).toEqual(['0011', '0011', '0000', '0000']);
    await png(join(dir, 'c.png'), 8, 8, () => 0);
    expect(await readGroundTruth(join(dir, 'c.png'), { width: 4, height: 4 })).toBeUndefined();
  });

  it('says what is wrong in one line, naming the file', async () => {
    const gt = join(dir, 'a.json');
    const bad = async (content: string) => {
      await writeFile(gt, content);
      return readGroundTruth(join(dir, 'a.png'), { width: 4, height: 2 });
    };
    await expect(bad('{nope')).rejects.toThrow(new RegExp(`^${gt}: not valid JSON`));
    await expect(bad('{"labels": 1}')).rejects.toThrow(`${gt}: expected {"boxes"`);
    await expect(bad('{"boxes": [[0, 0, 50, 10]]}')).rejects.toThrow(
      `${gt}: box 1 [0, 0, 50, 10] lies outside the 40×20 image`,
    );
    await expect(bad('{"boxes": [[0, 0, 5]]}')).rejects.toThrow(`${gt}: box 1 must be [x0, y0, x1, y1]`);
    await expect(bad('{"mask": "b-mask.png"}')).rejects.toThrow(
      `${gt}: mask b-mask.png is 8×8, the image is 40×20`,
    );
    await expect(bad('{"mask": "missing.png"}')).rejects.toThrow(/missing\.png: not a readable image/);
  });
});
