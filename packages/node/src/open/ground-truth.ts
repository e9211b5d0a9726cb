/**
 * Ground-truth regions for photos (the localisation metrics): a JSON file beside the image,
 * `<name>.json` for `<name>.png` (or `<name>.png.json`), holding boxes in the image's own pixels,
 *   {"boxes": [[x0, y0, x1, y1], …]}   (x0/y0 inclusive, x1/y1 exclusive; or {"x0":…,"y0":…,"x1":…,"y1":…})
 * or a mask image of the same size, non-black inside, named relative to the JSON:
 *   {"mask": "cat-mask.png"}
 * (both may be given: their union). The region is mapped to the model's input the way the image is
 * resized ('fill' stretches, 'crop' scales the shorter side and keeps the centre), as an [H·W] mask.
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { boxesMask, type RegionBox } from '@convlens/core/metrics/regions';
import sharp from 'sharp';
import { readImage } from '../io/png.ts';

export interface RegionSize {
  width: number;
  height: number;
  resize?: 'fill' | 'crop';
}

/** The ground-truth JSON of an image when one exists beside it, else undefined. */
export async function findGroundTruth(imagePath: string): Promise<string | undefined> {
  const stem = imagePath.slice(0, imagePath.length - extname(imagePath).length);
  for (const p of [`${stem}.json`, `${imagePath}.json`]) {
    try {
      await readFile(p);
      return p;
    } catch {}
  }
  return undefined;
}

function parseBox(v: unknown, json: string, k: number): RegionBox {
  const b = Array.isArray(v)
    ? { x0: v[0], y0: v[1], x1: v[2], y1: v[3] }
    : (v as Record<string, unknown> | null) && typeof v === 'object'
      ? (v as Record<string, unknown>)
      : {};
  const nums = [b.x0, b.y0, b.x1, b.y1];
  if ((Array.isArray(v) && v.length !== 4) || !nums.every((x) => typeof x === 'number' && Number.isFinite(x)))
    throw new Error(
      `${json}: box ${k + 1} must be [x0, y0, x1, y1] (four numbers), got ${JSON.stringify(v)}`,
    );
  const [x0, y0, x1, y1] = nums as number[];
  if (!(x1 > x0 && y1 > y0)) throw new Error(`${json}: box ${k + 1} is empty (x1 must exceed x0 and y1 y0)`);
  return { x0, y0, x1, y1 };
}

/** A box in the original image's pixels → the model input's pixels under the resize mode. */
function mapBox(b: RegionBox, w0: number, h0: number, want: RegionSize): RegionBox {
  if (want.resize === 'crop') {
    const s = Math.max(want.width / w0, want.height / h0);
    const ox = (w0 * s - want.width) / 2;
    const oy = (h0 * s - want.height) / 2;
    return { x0: b.x0 * s - ox, y0: b.y0 * s - oy, x1: b.x1 * s - ox, y1: b.y1 * s - oy };
  }
  const sx = want.width / w0;
  const sy = want.height / h0;
  return { x0: b.x0 * sx, y0: b.y0 * sy, x1: b.x1 * sx, y1: b.y1 * sy };
}

async function sizeOf(path: string, what: string): Promise<{ width: number; height: number }> {
  try {
    const m = await sharp(path, { limitInputPixels: false }).metadata();
    if (!m.width || !m.height) throw new Error('no size');
    return { width: m.width, height: m.height };
  } catch {
    throw new Error(`${path}: not a readable image (${what})`);
  }
}

/**
 * The ground-truth mask of an image at the model's input size, from the JSON beside it; undefined when
 * there is none. Errors name the file and what is wrong, in one line.
 */
export async function readGroundTruth(imagePath: string, want: RegionSize): Promise<Uint8Array | undefined> {
  const json = await findGroundTruth(imagePath);
  if (!json) return undefined;
  let spec: unknown;
  try {
    spec = JSON.parse(await readFile(json, 'utf8'));
  } catch (err: any) {
    throw new Error(`${json}: not valid JSON (${String(err.message).split('\n')[0]})`);
  }
  const s = spec as { boxes?: unknown; mask?: unknown };
  if (!s || typeof s !== 'object' || (s.boxes === undefined && s.mask === undefined))
    throw new Error(`${json}: expected {"boxes": [[x0, y0, x1, y1], …]} and/or {"mask": "file.png"}`);
  const { width: w0, height: h0 } = await sizeOf(imagePath, 'the image of a ground-truth file');
  const out = new Uint8Array(want.width * want.height);
  if (s.boxes !== undefined) {
    if (!Array.isArray(s.boxes) || s.boxes.length === 0)
      throw new Error(`${json}: "boxes" must be a non-empty list of [x0, y0, x1, y1]`);
    const boxes = s.boxes.map((b, k) => {
      const box = parseBox(b, json, k);
      if (box.x0 < 0 || box.y0 < 0 || box.x1 > w0 || box.y1 > h0)
        throw new Error(
          `${json}: box ${k + 1} [${box.x0}, ${box.y0}, ${box.x1}, ${box.y1}] lies outside the ${w0}×${h0} image`,
        );
      return mapBox(box, w0, h0, want);
    });
    const m = boxesMask(boxes, want.height, want.width);
    for (let p = 0; p < m.length; p++) out[p] |= m[p];
  }
  if (s.mask !== undefined) {
    if (typeof s.mask !== 'string' || !s.mask) throw new Error(`${json}: "mask" must be an image file name`);
    const maskPath = resolve(dirname(json), s.mask);
    const ms = await sizeOf(maskPath, `the mask named in ${json}`);
    if (ms.width !== w0 || ms.height !== h0)
      throw new Error(`${json}: mask ${s.mask} is ${ms.width}×${ms.height}, the image is ${w0}×${h0}`);
    const m = await readImage(maskPath, {
      width: want.width,
      height: want.height,
      channels: 1,
      resize: want.resize,
    });
    for (let p = 0; p < out.length; p++) if (m.pixels[p] >= 0.5) out[p] = 1;
  }
  if (!out.some((v) => v))
    throw new Error(`${json}: the region is empty at the model's ${want.width}×${want.height} input`);
  return out;
}
