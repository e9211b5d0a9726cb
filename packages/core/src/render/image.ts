/** A plain RGBA raster: the common currency of every renderer (browser canvas ImageData has the same layout). */
export interface RGBAImage {
  width: number;
  height: number;
  /** width·height·4 bytes, row-major RGBA. */
  data: Uint8ClampedArray;
}

export function createImage(
  width: number,
  height: number,
  rgba: [number, number, number, number] = [255, 255, 255, 255],
): RGBAImage {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new Error(`image size must be positive integers, got ${width}×${height}`);
  }
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < data.length; i += 4) data.set(rgba, i);
  return { width, height, data };
}

/** An RGBA raster of a uint8 image, row-major [h, w, c] with 1 (grey) or 3 (RGB) channels. */
export function imageFromBytes(
  bytes: Uint8Array,
  width: number,
  height: number,
  channels: number,
): RGBAImage {
  const img = createImage(width, height);
  for (let p = 0; p < width * height; p++) {
    const v = bytes.subarray(p * channels, p * channels + channels);
    img.data.set(channels === 3 ? [v[0], v[1], v[2], 255] : [v[0], v[0], v[0], 255], p * 4);
  }
  return img;
}

/** Nearest-neighbour upscaling by an integer factor: keeps small maps (7×7, 28×28) crisp. */
export function upscale(img: RGBAImage, factor: number): RGBAImage {
  if (!(Number.isInteger(factor) && factor >= 1))
    throw new Error(`upscale factor must be an integer ≥ 1, got ${factor}`);
  if (factor === 1) return img;
  const out = createImage(img.width * factor, img.height * factor);
  for (let y = 0; y < out.height; y++) {
    const sy = Math.floor(y / factor);
    for (let x = 0; x < out.width; x++) {
      const s = (sy * img.width + Math.floor(x / factor)) * 4;
      out.data.set(img.data.subarray(s, s + 4), (y * out.width + x) * 4);
    }
  }
  return out;
}

/** The `width`×`height` window of `img` at (x, y), clamped inside the image. */
export function crop(img: RGBAImage, x: number, y: number, width: number, height: number): RGBAImage {
  const w = Math.min(width, img.width);
  const h = Math.min(height, img.height);
  const x0 = Math.max(0, Math.min(img.width - w, x));
  const y0 = Math.max(0, Math.min(img.height - h, y));
  const out = createImage(w, h);
  for (let r = 0; r < h; r++) {
    const s = ((y0 + r) * img.width + x0) * 4;
    out.data.set(img.data.subarray(s, s + w * 4), r * w * 4);
  }
  return out;
}

/** Copies `src` into `dst` with its top-left corner at (x, y), clipped to `dst`. */
export function blit(dst: RGBAImage, src: RGBAImage, x: number, y: number): void {
  for (let sy = 0; sy < src.height; sy++) {
    const dy = y + sy;
    if (dy < 0 || dy >= dst.height) continue;
    const x0 = Math.max(0, -x);
    const x1 = Math.min(src.width, dst.width - x);
    if (x1 <= x0) continue;
    const s = (sy * src.width + x0) * 4;
    dst.data.set(src.data.subarray(s, s + (x1 - x0) * 4), (dy * dst.width + x + x0) * 4);
  }
}

export interface GridOptions {
  columns?: number;
  /** Pixels between cells. */
  gap?: number;
  background?: [number, number, number, number];
}

/** Lays equally sized tiles out in a grid, row by row. */
export function grid(tiles: RGBAImage[], opts: GridOptions = {}): RGBAImage {
  if (tiles.length === 0) throw new Error('grid needs at least one tile');
  const columns = Math.max(1, Math.min(opts.columns ?? Math.ceil(Math.sqrt(tiles.length)), tiles.length));
  const gap = opts.gap ?? 2;
  const tw = Math.max(...tiles.map((t) => t.width));
  const th = Math.max(...tiles.map((t) => t.height));
  const rows = Math.ceil(tiles.length / columns);
  const out = createImage(columns * tw + (columns - 1) * gap, rows * th + (rows - 1) * gap, opts.background);
  tiles.forEach((t, i) => {
    blit(out, t, (i % columns) * (tw + gap), Math.floor(i / columns) * (th + gap));
  });
  return out;
}
