/**
 * PNG output and image input through sharp (libvips): atomic PNG writes, titled panels with SVG text,
 * colour-bar legends, and reading any PNG/JPEG/WebP into model input.
 */
import { readFile } from 'node:fs/promises';
import type { RGBAImage } from '@convlens/core/render/image';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { writeFileAtomic } from './atomic.ts';
import { imageTooLarge, MAX_IMAGE_PIXELS } from './image-limits.ts';

export async function encodePng(img: RGBAImage): Promise<Buffer> {
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), {
    raw: { width: img.width, height: img.height, channels: 4 },
  })
    .png()
    .toBuffer();
}

export async function writePng(path: string, img: RGBAImage): Promise<void> {
  await writeFileAtomic(path, await encodePng(img));
}

const escapeXml = (s: string) =>
  s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );

export interface PanelOptions {
  title?: string;
  /** Lines under the image (e.g. value range, class). */
  caption?: string[];
  fontSize?: number;
  /** Minimum panel width, so short images still fit their text. */
  minWidth?: number;
}

/** The image with a title above and caption lines below, on white: a labelled figure. */
export async function labelledPanel(img: RGBAImage, opts: PanelOptions): Promise<RGBAImage> {
  const fs = opts.fontSize ?? 13;
  const lineH = Math.round(fs * 1.35);
  const top = opts.title ? lineH + 4 : 0;
  const captions = opts.caption ?? [];
  const bottom = captions.length ? captions.length * lineH + 4 : 0;
  // DejaVu Sans averages ~0.6 em per character; bold titles a little more.
  const textWidth = Math.max(
    opts.title ? opts.title.length * fs * 0.68 : 0,
    ...captions.map((c) => c.length * fs * 0.6),
  );
  const width = Math.ceil(Math.max(img.width, opts.minWidth ?? 0, textWidth + 8));
  const height = img.height + top + bottom;
  const x0 = Math.floor((width - img.width) / 2);
  const text = [
    opts.title
      ? `<text x="${width / 2}" y="${fs + 2}" text-anchor="middle" font-weight="bold">${escapeXml(opts.title)}</text>`
      : '',
    ...captions.map(
      (c, i) =>
        `<text x="${width / 2}" y="${top + img.height + (i + 1) * lineH}" text-anchor="middle">${escapeXml(c)}</text>`,
    ),
  ].join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="white"/><g font-family="DejaVu Sans, sans-serif" font-size="${fs}" fill="#222">${text}</g></svg>`;
  const raw = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return toRgba(
    sharp(Buffer.from(svg)).composite([
      { input: raw, raw: { width: img.width, height: img.height, channels: 4 }, left: x0, top },
    ]),
  );
}

/** Runs a sharp pipeline to an RGBA image (alpha added where the source has none). */
export async function toRgba(pipe: Sharp): Promise<RGBAImage> {
  const { data, info } = await pipe.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    data: new Uint8ClampedArray(data.buffer, data.byteOffset, data.byteLength),
  };
}

export interface LoadedImage {
  /** height·width·channels floats in [0, 1], NHWC without the batch axis. */
  pixels: Float32Array;
  width: number;
  height: number;
  channels: number;
  /** Size and channels of the file before any resize/conversion. */
  original: { width: number; height: number; channels: number };
}

/**
 * Reads an image file (PNG, JPEG, WebP, …; checked by content) into [0,1] floats of the requested size
 * and channel count (resized with bilinear filtering, converted to grayscale or RGB as needed).
 */
export async function readImage(
  path: string,
  want: { width: number; height: number; channels: 1 | 3; resize?: 'fill' | 'crop' },
): Promise<LoadedImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err: any) {
    throw new Error(`${path}: cannot read image (${err.code === 'ENOENT' ? 'file not found' : err.code})`);
  }
  let meta: Metadata;
  try {
    // The header only (no pixel limit here): a too-large image is said in megapixels below.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw new Error(`${path}: not a readable image (PNG, JPEG, WebP, GIF, TIFF or AVIF expected)`);
  }
  const tooLarge = imageTooLarge(meta.width ?? 0, meta.height ?? 0);
  if (tooLarge) throw new Error(`${path}: ${tooLarge}`);
  try {
    let pipe = sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS }).removeAlpha();
    pipe = want.channels === 1 ? pipe.grayscale() : pipe.toColourspace('srgb');
    if (meta.width !== want.width || meta.height !== want.height) {
      // crop: shorter side to the model's size, then the centre (Keras/torchvision ImageNet evaluation).
      const fit = want.resize === 'crop' ? 'cover' : 'fill';
      pipe = pipe.resize(want.width, want.height, { fit, position: 'centre', kernel: 'linear' });
    }
    const { data, info } = await pipe.raw().toBuffer({ resolveWithObject: true });
    const n = want.width * want.height;
    const pixels = new Float32Array(n * want.channels);
    if (info.channels === want.channels) for (let i = 0; i < pixels.length; i++) pixels[i] = data[i] / 255;
    else if (want.channels === 1) for (let i = 0; i < n; i++) pixels[i] = data[i * info.channels] / 255;
    else
      for (let i = 0; i < n; i++)
        for (let c = 0; c < 3; c++) pixels[i * 3 + c] = data[i * info.channels] / 255;
    return {
      pixels,
      width: want.width,
      height: want.height,
      channels: want.channels,
      original: { width: meta.width ?? 0, height: meta.height ?? 0, channels: meta.channels ?? 0 },
    };
  } catch (err: any) {
    throw new Error(`${path}: corrupt or truncated image (${err.message.split('\n')[0]})`);
  }
}
