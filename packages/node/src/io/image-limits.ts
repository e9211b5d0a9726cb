/**
 * The largest image convlens decodes from a file. Sharp's own guard (268 megapixels) reports a bigger
 * one as an unreadable file; the size is read from the header instead and said in words.
 */

/** 100 megapixels: ~300 MB of RGB once decoded, beyond any camera photo. */
export const MAX_IMAGE_PIXELS = 100_000_000;

const megapixels = (n: number) => String(Number((n / 1e6).toFixed(1)));

/** One line (`W×H: N megapixels exceeds the limit of M megapixels`) when the image is too large, else undefined. */
export function imageTooLarge(width: number, height: number, limit = MAX_IMAGE_PIXELS): string | undefined {
  const n = width * height;
  if (n <= limit) return undefined;
  return `image is ${width}×${height}: ${megapixels(n)} megapixels exceeds the limit of ${megapixels(limit)} megapixels`;
}
