/** ImageFolder datasets: class discovery, seeded split, streamed resize + preset, corrupt files by flag. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanImageFolder, splitItems, streamBatches } from '../src/datasets/image-folder.ts';
import { readImage } from '../src/io/png.ts';
import { writeImageFolder } from './transfer-fixture.ts';

let dir: string;
let root: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'convlens-folder-'));
  root = join(dir, 'ds');
  await writeImageFolder(root, { trouser: 1, bag: 8, sneaker: 7 }, 10);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const geometry = { height: 28, width: 28, channels: 1 as const };

describe('image folders', () => {
  it('finds sorted classes and a seeded, reproducible split', async () => {
    const f = await scanImageFolder(root);
    expect(f.classNames).toEqual(['bag', 'sneaker', 'trouser']);
    expect(f.items).toHaveLength(30);
    const a = splitItems(f.items, 0.2, 3);
    const b = splitItems(f.items, 0.2, 3);
    const c = splitItems(f.items, 0.2, 4);
    expect(a.val).toHaveLength(6);
    expect(a.train.map((i) => i.path)).toEqual(b.train.map((i) => i.path));
    expect(a.val.map((i) => i.path)).not.toEqual(c.val.map((i) => i.path));
    expect(new Set([...a.train, ...a.val].map((i) => i.path)).size).toBe(30);
  });

  it('streams batches resized to the input and preprocessed with the preset', async () => {
    const f = await scanImageFolder(root);
    const batches = [];
    for await (const b of streamBatches(f.items, {
      geometry,
      preprocess: { preset: 'scale-1-1' },
      batchSize: 8,
      onCorrupt: 'fail',
    }))
      batches.push(b);
    expect(batches.map((b) => b.n)).toEqual([8, 8, 8, 6]);
    // An upscaled 40×40 file (index 3 of each class) comes back at 28×28; values are 2·pixel−1.
    const i = batches[0].paths.findIndex((p) => p.endsWith('bag/3.png'));
    expect(i).toBeGreaterThanOrEqual(0);
    const direct = await readImage(batches[0].paths[i], geometry);
    expect(direct.original.width).toBe(40);
    const got = batches[0].x.subarray(i * 784, (i + 1) * 784);
    for (let p = 0; p < 784; p += 97) expect(got[p]).toBeCloseTo(direct.pixels[p] * 2 - 1, 6);
    expect(batches[0].labels[i]).toBe(0);
  });

  it('skips a non-image with its path, or fails naming it', async () => {
    const bad = join(root, 'bag', 'notes.png');
    await writeFile(bad, 'this is not an image');
    const f = await scanImageFolder(root);
    const skipped: string[] = [];
    let n = 0;
    for await (const b of streamBatches(f.items, {
      geometry,
      preprocess: { preset: 'scale01' },
      batchSize: 16,
      onCorrupt: 'skip',
      onSkip: (p) => skipped.push(p),
    }))
      n += b.n;
    expect(skipped).toEqual([bad]);
    expect(n).toBe(30);
    const consume = async () => {
      for await (const _ of streamBatches(f.items, {
        geometry,
        preprocess: { preset: 'scale01' },
        batchSize: 16,
        onCorrupt: 'fail',
      }));
    };
    await expect(consume()).rejects.toThrow(/bag\/notes\.png: not a readable image/);
  });

  it('rejects a folder without class subfolders, naming it', async () => {
    const flat = join(dir, 'flat');
    await mkdir(flat);
    await writeFile(join(flat, 'a.png'), 'x');
    await expect(scanImageFolder(flat)).rejects.toThrow(/flat: needs at least 2 class subfolders/);
    await expect(scanImageFolder(join(dir, 'nope'))).rejects.toThrow(
      /nope: cannot read image folder \(not found\)/,
    );
  });
});
