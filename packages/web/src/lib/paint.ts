/**
 * Drawing core's RGBA images and value maps onto canvases (crisp upscaling for small maps). Explanation
 * overlays are core's drawOverlay (render/overlay.ts), the renderer the CLI and the lab report use.
 */
import { type ColormapName, lut, mapToImage, type ValueRange } from '@convlens/core/render/colormap';
import type { RGBAImage } from '@convlens/core/render/image';

export function putImage(canvas: HTMLCanvasElement, img: RGBAImage): void {
  if (canvas.width !== img.width) canvas.width = img.width;
  if (canvas.height !== img.height) canvas.height = img.height;
  const ctx = canvas.getContext('2d')!;
  ctx.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
}

export function putMap(
  canvas: HTMLCanvasElement,
  values: ArrayLike<number>,
  w: number,
  h: number,
  colormap: ColormapName = 'viridis',
  range?: ValueRange,
): void {
  putImage(canvas, mapToImage(values, w, h, { colormap, range }));
}

/** H·W·C pixels in [0, 1] (C = 1 or 3) as an RGBA image. */
export function pixelsToImage(pixels: Float32Array, w: number, h: number, c: number): RGBAImage {
  const data = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    for (let k = 0; k < 3; k++) data[i * 4 + k] = Math.round(255 * pixels[i * c + (c === 3 ? k : 0)]);
    data[i * 4 + 3] = 255;
  }
  return { width: w, height: h, data };
}

/** Pixels of a canvas that differ from its first pixel: a cheap "is anything drawn" check. */
export function isBlank(canvas: HTMLCanvasElement): boolean {
  const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 4; i < d.length; i += 4) {
    if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) return false;
  }
  return true;
}

/** Opaque RGBA as one little-endian 32-bit word (ImageData's byte order on every platform we run on). */
const rgba = (r: number, g: number, b: number) => ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
const NAN_COLOUR = rgba(255, 0, 255);
const palettes = new Map<ColormapName, Uint32Array>();

/** A colormap's 256 colours as 32-bit pixels. */
function palette(name: ColormapName): Uint32Array {
  let p = palettes.get(name);
  if (!p) {
    const t = lut(name);
    p = Uint32Array.from({ length: 256 }, (_, i) => rgba(t[3 * i], t[3 * i + 1], t[3 * i + 2]));
    palettes.set(name, p);
  }
  return p;
}

/** Where each map of a grid sits, in CSS px: `cols` cells of cellW×cellH at pitch (cell + pad·2 + gap). */
export interface GridLayout {
  cols: number;
  rows: number;
  cellW: number;
  cellH: number;
  /** Space around each map inside its cell (the selection border), and between cells. */
  pad: number;
  gap: number;
}

export const gridSize = (g: GridLayout) => ({
  width: g.cols * (g.cellW + 2 * g.pad + g.gap) - g.gap,
  height: g.rows * (g.cellH + 2 * g.pad + g.gap) - g.gap,
});

/**
 * A layer's k maps ([k, h, w] channel-major, one shared range) drawn as a grid on one canvas in one
 * putImageData, the colours of mapToImage: hundreds of small canvases, each with its own 2-d context
 * and each map coloured whole at full size, were half the network view's time after an upload.
 * Nearest-neighbour sampling, so small maps stay crisp at any cell size.
 */
export function putMapGrid(
  canvas: HTMLCanvasElement,
  values: Float32Array,
  k: number,
  h: number,
  w: number,
  g: GridLayout,
  range: ValueRange,
  dpr = 1,
  colormap: ColormapName = 'viridis',
): void {
  // Only the drawn pixels are coloured (a map larger than its cell is sampled, never coloured whole).
  const pal = palette(colormap);
  const { min, max } = range;
  const span = max - min;
  const { width, height } = gridSize(g);
  const W = Math.max(1, Math.round(width * dpr));
  const H = Math.max(1, Math.round(height * dpr));
  const out = new Uint8ClampedArray(W * H * 4);
  const px = new Uint32Array(out.buffer);
  const cw = Math.max(1, Math.round(g.cellW * dpr));
  const ch = Math.max(1, Math.round(g.cellH * dpr));
  const sx = new Int32Array(cw);
  for (let x = 0; x < cw; x++) sx[x] = Math.min(w - 1, Math.floor((x * w) / cw));
  const scale = span > 0 ? 255 / span : 0;
  for (let i = 0; i < k; i++) {
    const x0 = Math.round(((i % g.cols) * (g.cellW + 2 * g.pad + g.gap) + g.pad) * dpr);
    const y0 = Math.round((Math.floor(i / g.cols) * (g.cellH + 2 * g.pad + g.gap) + g.pad) * dpr);
    for (let y = 0; y < ch && y0 + y < H; y++) {
      const row = (i * h + Math.min(h - 1, Math.floor((y * h) / ch))) * w;
      let o = (y0 + y) * W + x0;
      for (let x = 0; x < cw && x0 + x < W; x++, o++) {
        const v = values[row + sx[x]];
        // mapToImage's colours: NaN/Infinity magenta, a constant map the middle colour.
        px[o] = Number.isFinite(v)
          ? pal[span > 0 ? Math.round(Math.min(255, Math.max(0, (v - min) * scale))) : 128]
          : NAN_COLOUR;
      }
    }
  }
  if (canvas.width !== W) canvas.width = W;
  if (canvas.height !== H) canvas.height = H;
  canvas.getContext('2d')!.putImageData(new ImageData(out, W, H), 0, 0);
}
