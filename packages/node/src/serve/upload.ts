/**
 * Uploaded images → the model's input size. The type is read from the bytes (file-type), never from
 * the name or the declared content type; pictures over MAX_PIXELS are refused from their header,
 * before decoding; the rest are fitted to h×w by the model's resize policy (crop: shorter side then
 * centre; fill: stretch) with the same sharp pipeline as the CLI's readImage (io/png.ts), grayscale
 * for 1-channel models, so the explorer and the CLI feed a model the same pixels for the same file.
 */

import type { ResizeMode } from '@convlens/core/preprocess/presets';
import { fileTypeFromBuffer } from 'file-type';
import sharp from 'sharp';
import { imageTooLarge } from '../io/image-limits.ts';

export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
/** 40 megapixels: a large camera photo decodes to ~160 MB RGBA; anything bigger is refused. */
export const MAX_PIXELS = 40_000_000;

const ACCEPTED = new Set(['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'image/tiff', 'image/avif']);

export class UploadError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface PreparedImage {
  png: Buffer;
  original: { width: number; height: number; type: string };
}

export async function prepareUpload(
  buf: Buffer,
  [h, w, c]: [number, number, number],
  resize: ResizeMode = 'crop',
): Promise<PreparedImage> {
  if (buf.length === 0) throw new UploadError(400, 'the upload is empty');
  const type = await fileTypeFromBuffer(buf);
  if (!type || !ACCEPTED.has(type.mime)) {
    throw new UploadError(
      415,
      `not an image: the content is ${type ? type.mime : 'unrecognized'} (accepted: PNG, JPEG, WebP, GIF, TIFF, AVIF)`,
    );
  }
  // Only the header is read here (no pixel limit: sharp's default refuses giant images with an error
  // indistinguishable from corruption); the size is checked before anything is decoded.
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    meta = await sharp(buf, { limitInputPixels: false }).metadata();
  } catch {
    throw new UploadError(415, `the ${type.mime} image could not be decoded (corrupt or truncated)`);
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  const tooLarge = imageTooLarge(width, height, MAX_PIXELS);
  if (tooLarge) throw new UploadError(413, tooLarge);
  try {
    // rotate(): phone photos are stored sideways with an EXIF orientation.
    let img = sharp(buf, { limitInputPixels: MAX_PIXELS }).rotate().removeAlpha();
    img = c === 1 ? img.grayscale() : img.toColourspace('srgb');
    if (width !== w || height !== h || meta.orientation)
      img = img.resize(w, h, {
        fit: resize === 'crop' ? 'cover' : 'fill',
        position: 'centre',
        kernel: 'linear',
      });
    const png = await img.png().toBuffer();
    return { png, original: { width, height, type: type.mime } };
  } catch (err) {
    throw new UploadError(415, `the ${type.mime} image could not be decoded: ${(err as Error).message}`);
  }
}
