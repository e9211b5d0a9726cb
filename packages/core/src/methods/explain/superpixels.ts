/**
 * Segmentation of one image into segments (the "features" LIME and KernelSHAP switch on and off):
 * SLIC superpixels (Achanta et al.) for real images, or a plain grid of square cells for small
 * ones such as 28×28 digits, where SLIC on a few hundred pixels gives ragged, arbitrary segments.
 * Both are deterministic and return labels 0..count-1, each label one 4-connected region for SLIC.
 * Also here: evaluating the model on copies of an image with chosen segments filled in.
 */
import * as tf from '@tensorflow/tfjs';

/** Per-pixel segment ids, row-major [H·W], and how many segments there are (labels 0..count-1). */
export interface Segmentation {
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
}

export interface SegmentOptions {
  /** 'slic' superpixels or a 'grid' of square cells (default: grid below 64 pixels a side, else slic). */
  segments?: 'slic' | 'grid';
  /** SLIC: about how many superpixels (default 50). */
  nSegments?: number;
  /**
   * SLIC: weight of spatial against colour distance. Colours are rescaled to [0, 1] per image, so
   * 0.1 (default) plays the part of skimage's compactness 10 on Lab colours (range ~100).
   */
  compactness?: number;
  /** SLIC: k-means iterations (default 10). */
  iterations?: number;
  /** Grid: cell side in pixels (default: a seventh of the smaller side, at least 2: 4 on 28×28). */
  cell?: number;
}

/** Square cells of side `cell` (the last row and column may be narrower), numbered row by row. */
export function gridSegments(height: number, width: number, cell: number): Segmentation {
  if (!(Number.isInteger(cell) && cell >= 1)) throw new Error(`cell must be a positive integer, got ${cell}`);
  const cols = Math.ceil(width / cell);
  const labels = new Int32Array(height * width);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      labels[y * width + x] = Math.floor(y / cell) * cols + Math.floor(x / cell);
  return { labels, count: Math.ceil(height / cell) * cols, height, width };
}

/** The image's colours rescaled to [0, 1] by its overall range, so compactness means the same on any input scale. */
function normalizedColours(image: Float32Array): Float32Array {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of image) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const range = hi - lo || 1;
  return image.map((v) => (v - lo) / range);
}

interface Centre {
  y: number;
  x: number;
  colour: Float64Array;
}

/** Squared colour gradient magnitude at (y, x), clamped at the border: seeds move off edges. */
function gradient(img: Float32Array, H: number, W: number, C: number, y: number, x: number): number {
  const at = (yy: number, xx: number, c: number) =>
    img[(Math.min(H - 1, Math.max(0, yy)) * W + Math.min(W - 1, Math.max(0, xx))) * C + c];
  let g = 0;
  for (let c = 0; c < C; c++)
    g += (at(y, x + 1, c) - at(y, x - 1, c)) ** 2 + (at(y + 1, x, c) - at(y - 1, x, c)) ** 2;
  return g;
}

/** Seeds on a regular grid of about k cells, each moved to the lowest gradient in its 3×3 neighbourhood. */
function seedCentres(img: Float32Array, H: number, W: number, C: number, k: number): Centre[] {
  const step = Math.sqrt((H * W) / k);
  const rows = Math.max(1, Math.round(H / step));
  const cols = Math.max(1, Math.round(W / step));
  const centres: Centre[] = [];
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let y = Math.floor(((i + 0.5) * H) / rows);
      let x = Math.floor(((j + 0.5) * W) / cols);
      let best = gradient(img, H, W, C, y, x);
      const [y0, x0] = [y, x];
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y0 + dy;
          const xx = x0 + dx;
          if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
          const g = gradient(img, H, W, C, yy, xx);
          if (g < best) [best, y, x] = [g, yy, xx];
        }
      }
      centres.push({ y, x, colour: Float64Array.from(img.subarray((y * W + x) * C, (y * W + x + 1) * C)) });
    }
  }
  return centres;
}

/** One k-means pass: assign each pixel within 2S of a centre to the nearest, then move centres to their means. */
function slicIteration(
  img: Float32Array,
  H: number,
  W: number,
  C: number,
  centres: Centre[],
  step: number,
  compactness: number,
  labels: Int32Array,
): void {
  const dist = new Float64Array(H * W).fill(Number.POSITIVE_INFINITY);
  labels.fill(-1);
  const spatial = (compactness / step) ** 2;
  const r = Math.ceil(2 * step);
  centres.forEach((c, k) => {
    const cy = Math.round(c.y);
    const cx = Math.round(c.x);
    for (let y = Math.max(0, cy - r); y < Math.min(H, cy + r + 1); y++) {
      for (let x = Math.max(0, cx - r); x < Math.min(W, cx + r + 1); x++) {
        const p = y * W + x;
        let d = ((y - c.y) ** 2 + (x - c.x) ** 2) * spatial;
        for (let ch = 0; ch < C; ch++) d += (img[p * C + ch] - c.colour[ch]) ** 2;
        if (d < dist[p]) {
          dist[p] = d;
          labels[p] = k;
        }
      }
    }
  });
  const sums = centres.map(() => ({ n: 0, y: 0, x: 0, colour: new Float64Array(C) }));
  for (let p = 0; p < H * W; p++) {
    const k = labels[p];
    if (k < 0) continue;
    const s = sums[k];
    s.n++;
    s.y += Math.floor(p / W);
    s.x += p % W;
    for (let ch = 0; ch < C; ch++) s.colour[ch] += img[p * C + ch];
  }
  sums.forEach((s, k) => {
    if (!s.n) return; // an empty cluster keeps its place (and may be dropped by relabelling)
    centres[k].y = s.y / s.n;
    centres[k].x = s.x / s.n;
    for (let ch = 0; ch < C; ch++) centres[k].colour[ch] = s.colour[ch] / s.n;
  });
}

/**
 * Connectivity enforcement: every 4-connected region of one k-means label becomes its own segment,
 * except regions smaller than `minSize`, which join the segment next to their first pixel (as in
 * the SLIC reference code). Segments are numbered 0..count-1 in raster order of their first pixel.
 */
export function enforceConnectivity(
  labels: Int32Array,
  H: number,
  W: number,
  minSize: number,
): { labels: Int32Array; count: number } {
  const out = new Int32Array(H * W).fill(-1);
  const queue = new Int32Array(H * W);
  let count = 0;
  for (let start = 0; start < H * W; start++) {
    if (out[start] >= 0) continue;
    // A label already given out next to the region's first pixel (left or above: raster order).
    const sx = start % W;
    const adjacent = sx > 0 ? out[start - 1] : start >= W ? out[start - W] : -1;
    const own = labels[start];
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    out[start] = count;
    while (head < tail) {
      const p = queue[head++];
      const py = Math.floor(p / W);
      const px = p % W;
      for (const [q, ok] of [
        [p - 1, px > 0],
        [p + 1, px < W - 1],
        [p - W, py > 0],
        [p + W, py < H - 1],
      ] as const) {
        if (ok && out[q] < 0 && labels[q] === own) {
          out[q] = count;
          queue[tail++] = q;
        }
      }
    }
    if (tail < minSize && adjacent >= 0) for (let i = 0; i < tail; i++) out[queue[i]] = adjacent;
    else count++;
  }
  return { labels: out, count };
}

/**
 * SLIC superpixels of an [H, W, C] image (row-major, channels last): k-means in (colour, y, x) with
 * distance d² = Δcolour² + (Δxy · compactness / S)², S = √(H·W / nSegments) the grid step, each
 * centre searching a 2S×2S window; then connectivity enforcement. Any C (1 for grey, 3 for RGB).
 */
export function slicSegments(
  image: Float32Array,
  height: number,
  width: number,
  channels: number,
  options: { nSegments?: number; compactness?: number; iterations?: number } = {},
): Segmentation {
  const k = options.nSegments ?? 50;
  const compactness = options.compactness ?? 0.1;
  const iterations = options.iterations ?? 10;
  if (!(Number.isInteger(k) && k >= 1)) throw new Error(`nSegments must be a positive integer, got ${k}`);
  if (!(compactness >= 0)) throw new Error(`compactness must be non-negative, got ${compactness}`);
  if (image.length !== height * width * channels)
    throw new Error(`image has ${image.length} values, expected ${height}×${width}×${channels}`);
  const img = normalizedColours(image);
  const step = Math.sqrt((height * width) / k);
  const centres = seedCentres(img, height, width, channels, k);
  const labels = new Int32Array(height * width);
  for (let it = 0; it < Math.max(1, iterations); it++)
    slicIteration(img, height, width, channels, centres, step, compactness, labels);
  const minSize = Math.max(1, Math.floor((height * width) / centres.length / 4));
  const connected = enforceConnectivity(labels, height, width, minSize);
  return { ...connected, height, width };
}

/** The segmentation asked for, or by default a grid below 64 pixels a side (SLIC is ragged there), else SLIC. */
export function segmentKind(height: number, width: number, options: SegmentOptions): 'slic' | 'grid' {
  return options.segments ?? (Math.min(height, width) < 64 ? 'grid' : 'slic');
}

/** The segmentation LIME and KernelSHAP use for one [H, W, C] image, from their options. */
export function segmentImage(
  image: Float32Array,
  height: number,
  width: number,
  channels: number,
  options: SegmentOptions = {},
): Segmentation {
  const kind = segmentKind(height, width, options);
  if (kind === 'grid')
    return gridSegments(height, width, options.cell ?? Math.max(2, Math.round(Math.min(height, width) / 7)));
  if (kind === 'slic') return slicSegments(image, height, width, channels, options);
  throw new Error(`segments must be 'slic' or 'grid', got '${kind}'`);
}

/** The colour masked-off segments get: `fill` in every channel, or the image's mean colour ('mean'). */
export function fillColour(image: Float32Array, channels: number, fill: number | 'mean'): Float32Array {
  if (fill !== 'mean') {
    if (!Number.isFinite(fill)) throw new Error(`fill must be a number or 'mean', got ${fill}`);
    return new Float32Array(channels).fill(fill);
  }
  const sums = new Float64Array(channels);
  for (let i = 0; i < image.length; i++) sums[i % channels] += image[i];
  return Float32Array.from(sums, (s) => s / (image.length / channels));
}

/** One image with its segmentation, and how to hide a segment. */
export interface SegmentedImage {
  /** [H, W, C] row-major. */
  image: Float32Array;
  shape: [number, number, number];
  seg: Segmentation;
  fill: Float32Array;
}

/**
 * The model's output for `target` (a probability for convlens models) on copies of the image where
 * each row's 0-entries say which segments are replaced by the fill; `batch` copies per forward pass.
 */
export async function coalitionOutputs(
  model: tf.LayersModel,
  s: SegmentedImage,
  rows: ArrayLike<number>[],
  target: number,
  batch: number,
): Promise<Float64Array> {
  const [H, W, C] = s.shape;
  const per = H * W * C;
  const out = new Float64Array(rows.length);
  for (let r0 = 0; r0 < rows.length; r0 += batch) {
    const chunk = rows.slice(r0, r0 + batch);
    const copies = new Float32Array(chunk.length * per);
    chunk.forEach((row, j) => {
      const dst = copies.subarray(j * per, (j + 1) * per);
      for (let p = 0; p < H * W; p++) {
        const src = row[s.seg.labels[p]] ? s.image : s.fill;
        const off = row[s.seg.labels[p]] ? p * C : 0;
        for (let c = 0; c < C; c++) dst[p * C + c] = src[off + c];
      }
    });
    const col = tf.tidy(() =>
      tf.gather(
        model.apply(tf.tensor4d(copies, [chunk.length, H, W, C]), { training: false }) as tf.Tensor2D,
        [target],
        1,
      ),
    );
    const values = await col.data();
    col.dispose();
    out.set(values, r0);
  }
  return out;
}

/** Per-pixel map from per-segment values: each pixel gets its segment's value. */
export function segmentMap(seg: Segmentation, values: ArrayLike<number>): Float32Array {
  return Float32Array.from(seg.labels, (l) => values[l]);
}

/** Each image of an [N, H, W, C] batch with its segmentation and fill colour. */
export async function segmentBatch(
  input: tf.Tensor4D,
  options: SegmentOptions & { fill?: number | 'mean' },
): Promise<SegmentedImage[]> {
  const [n, H, W, C] = input.shape;
  const data = (await input.data()) as Float32Array;
  const per = H * W * C;
  return Array.from({ length: n }, (_, i) => {
    const image = data.slice(i * per, (i + 1) * per);
    return {
      image,
      shape: [H, W, C] as [number, number, number],
      seg: segmentImage(image, H, W, C, options),
      fill: fillColour(image, C, options.fill ?? 0),
    };
  });
}

/** Maps of equal size laid end to end, for one [N, H, W] tensor. */
export function segmentMaps(maps: Float32Array[]): Float32Array {
  const out = new Float32Array(maps.reduce((a, m) => a + m.length, 0));
  let off = 0;
  for (const m of maps) {
    out.set(m, off);
    off += m.length;
  }
  return out;
}
