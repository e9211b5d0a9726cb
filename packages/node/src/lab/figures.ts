/** Writing report figures: PNGs under DIR/figures, returned as Figure records for the HTML. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { applyStandardizer, type Standardizer } from '@convlens/core/data/standardize';
import type { ImageSet } from '@convlens/core/data/types';
import type { LayerField } from '@convlens/core/inspect/receptive-field';
import { createImage, type RGBAImage, upscale } from '@convlens/core/render/image';
import sharp from 'sharp';
import { toRgba, writePng } from '../io/png.ts';
import type { Figure } from './types.ts';

export async function saveFigure(
  out: string,
  rel: string,
  img: RGBAImage,
  title: string,
  caption?: string,
): Promise<Figure> {
  const src = `figures/${rel}`;
  await writePng(join(out, src), img);
  return { src, title, caption, width: img.width, height: img.height };
}

/** A figure another command already wrote under DIR/figures (its size read from the PNG). */
export async function existingFigure(
  out: string,
  src: string,
  title: string,
  caption?: string,
): Promise<Figure> {
  const meta = await sharp(await readFile(join(out, src))).metadata();
  return { src, title, caption, width: meta.width ?? 0, height: meta.height ?? 0 };
}

/** A PNG file as RGBA (to compose figures other commands wrote). */
export async function readPng(path: string): Promise<RGBAImage> {
  return toRgba(sharp(await readFile(path)));
}

/** Example i of a set as a greyscale (or RGB) RGBA image. */
export function exampleImage(set: ImageSet, i: number): RGBAImage {
  const { height: h, width: w, channels: c } = set;
  const img = createImage(w, h);
  const base = i * h * w * c;
  for (let p = 0; p < h * w; p++) {
    const v = set.images.subarray(base + p * c, base + p * c + c);
    img.data.set(c === 3 ? [v[0], v[1], v[2], 255] : [v[0], v[0], v[0], 255], p * 4);
  }
  return img;
}

/** Examples as model input: bytes / 255, standardized as in training. */
export function modelInput(set: ImageSet, indices: number[], standardizer?: Standardizer): Float32Array {
  const size = set.height * set.width * set.channels;
  const x = new Float32Array(indices.length * size);
  indices.forEach((idx, k) => {
    const one = Float32Array.from(set.images.subarray(idx * size, (idx + 1) * size), (b) => b / 255);
    if (standardizer) applyStandardizer(standardizer, one);
    x.set(one, k * size);
  });
  return x;
}

/** The first example of each wanted class (in set order): fixed probe images. */
export function firstOfClasses(set: ImageSet, classes: number[]): number[] {
  return classes.map((c) => {
    for (let i = 0; i < set.count; i++) if (set.labels[i] === c) return i;
    throw new Error(`no example of class ${c} in the data`);
  });
}

/** An image scaled to fit `size` px a side (smoothly; small images are enlarged by whole factors). */
export async function fitImage(img: RGBAImage, size: number): Promise<RGBAImage> {
  const side = Math.max(img.width, img.height);
  if (side <= size) return upscale(img, Math.max(1, Math.floor(size / side)));
  const f = size / side;
  const pipe = sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), {
    raw: { width: img.width, height: img.height, channels: 4 },
  }).resize(Math.max(1, Math.round(img.width * f)), Math.max(1, Math.round(img.height * f)), {
    kernel: 'lanczos3',
  });
  return toRgba(pipe);
}

/** The report's receptive-field table (zoo and pretrained labs). */
export function receptiveFieldTable(layers: LayerField[]) {
  return {
    title: 'Receptive fields (input pixels): size, jump (stride between neighbouring units), start offset',
    header: ['layer', 'type', 'output', 'size', 'jump', 'start'],
    rows: layers.map((l) => [
      l.layer,
      l.className,
      l.outSize ? l.outSize.join('×') : '–',
      l.global ? 'whole input' : `${l.rows.size}×${l.cols.size}`,
      `${l.rows.jump}×${l.cols.jump}`,
      `${l.rows.start}, ${l.cols.start}`,
    ]),
  };
}
