/**
 * Random geometric augmentation of float NHWC batches, after Keras's ImageDataGenerator:
 * rotation, width/height shift, zoom, horizontal flip. Each output pixel is pulled from the source
 * through the inverse transform with bilinear sampling; outside the source reads the fill value (0).
 */
import { createRng, type Rng, uniform } from './rng.ts';

export interface AugmentParams {
  /** Max rotation in degrees; the angle is uniform in [-r, r]. */
  rotation?: number;
  /** Max horizontal shift as a fraction of the width; uniform in [-f, f]. */
  widthShift?: number;
  /** Max vertical shift as a fraction of the height. */
  heightShift?: number;
  /**
   * Zoom range as in Keras: z or [lo, hi]; z means [1-z, 1+z]. The factor scales the sampling
   * coordinates (as Keras does), so factors below 1 magnify and above 1 shrink. x and y are drawn independently.
   */
  zoom?: number | [number, number];
  /** Flip left-right with probability 1/2. */
  horizontalFlip?: boolean;
  /** Value read outside the source image (default 0). */
  fill?: number;
}

/** One concrete transform. Forward order: zoom, rotate, shift, flip. */
export interface Transform {
  /** Counter-clockwise rotation as displayed (row 0 at the top), in degrees. */
  rotation: number;
  /** Content moves right by dx pixels, down by dy pixels. */
  dx: number;
  dy: number;
  /** Keras-style sampling scale factors (see AugmentParams.zoom). */
  zoomX: number;
  zoomY: number;
  flip: boolean;
}

export const IDENTITY: Transform = { rotation: 0, dx: 0, dy: 0, zoomX: 1, zoomY: 1, flip: false };

function zoomRange(zoom: AugmentParams['zoom']): [number, number] {
  if (zoom === undefined) return [1, 1];
  return typeof zoom === 'number' ? [1 - zoom, 1 + zoom] : zoom;
}

/** Throws a one-line error on out-of-range parameters. */
export function validateAugmentParams(p: AugmentParams): void {
  const nonNeg = (k: keyof AugmentParams, v: number | undefined, max = Number.POSITIVE_INFINITY) => {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0 && v <= max)) {
      throw new Error(`augmentation ${k} must be a number in [0, ${max}], got ${v}`);
    }
  };
  nonNeg('rotation', p.rotation, 180);
  nonNeg('widthShift', p.widthShift, 1);
  nonNeg('heightShift', p.heightShift, 1);
  const [lo, hi] = zoomRange(p.zoom);
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo > 0 && lo <= hi)) {
    throw new Error(
      `augmentation zoom must be z in [0, 1) or [lo, hi] with 0 < lo ≤ hi, got ${JSON.stringify(p.zoom)}`,
    );
  }
}

/** True when the params can only produce the identity transform. */
export function isIdentityParams(p: AugmentParams): boolean {
  const [lo, hi] = zoomRange(p.zoom);
  return !p.rotation && !p.widthShift && !p.heightShift && lo === 1 && hi === 1 && !p.horizontalFlip;
}

/** Draws one transform for an image of the given size. */
export function sampleTransform(p: AugmentParams, rng: Rng, height: number, width: number): Transform {
  const r = p.rotation ?? 0;
  const [lo, hi] = zoomRange(p.zoom);
  return {
    rotation: r ? uniform(rng, -r, r) : 0,
    dx: p.widthShift ? uniform(rng, -p.widthShift, p.widthShift) * width : 0,
    dy: p.heightShift ? uniform(rng, -p.heightShift, p.heightShift) * height : 0,
    zoomX: lo === hi ? lo : uniform(rng, lo, hi),
    zoomY: lo === hi ? lo : uniform(rng, lo, hi),
    flip: p.horizontalFlip ? rng() < 0.5 : false,
  };
}

/** Coordinates within this of a grid point sample it exactly, so 90° turns and identity stay exact. */
const SNAP = 1e-6;

/**
 * Writes the transformed image src (H×W×C floats) into out (same size). Each output pixel centre,
 * relative to the image centre, goes back through flip, shift, rotation and zoom to a source position.
 * That inverse map is affine, so it is folded into one 2×3 matrix first.
 */
export function transformImage(
  src: Float32Array,
  out: Float32Array,
  height: number,
  width: number,
  channels: number,
  t: Transform,
  fill = 0,
): void {
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const a = (t.rotation * Math.PI) / 180;
  const cos = Math.cos(a);
  const sin = Math.sin(a);
  const f = t.flip ? -1 : 1;
  // q = (f·(xo − cx) − dx, yo − cy − dy); s = zoom · R⁻¹ q + c, with R⁻¹ undoing a counter-clockwise
  // turn in y-down coordinates. Written as sx = axx·xo + axy·yo + bx (and likewise sy).
  const axx = f * cos * t.zoomX;
  const axy = -sin * t.zoomX;
  const ayx = f * sin * t.zoomY;
  const ayy = cos * t.zoomY;
  const qx0 = -f * cx - t.dx;
  const qy0 = -cy - t.dy;
  const bx = (qx0 * cos - qy0 * sin) * t.zoomX + cx;
  const by = (qx0 * sin + qy0 * cos) * t.zoomY + cy;
  const rowStride = width * channels;
  let o = 0;
  for (let yo = 0; yo < height; yo++) {
    for (let xo = 0; xo < width; xo++, o += channels) {
      const sx = axx * xo + axy * yo + bx;
      const sy = ayx * xo + ayy * yo + by;
      let x0 = Math.floor(sx);
      let y0 = Math.floor(sy);
      let fx = sx - x0;
      let fy = sy - y0;
      if (fx < SNAP) fx = 0;
      else if (fx > 1 - SNAP) {
        fx = 0;
        x0++;
      }
      if (fy < SNAP) fy = 0;
      else if (fy > 1 - SNAP) {
        fy = 0;
        y0++;
      }
      // Bilinear weights; a neighbour outside the image (or with zero weight) reads the fill value.
      const inX0 = x0 >= 0 && x0 < width;
      const inX1 = fx !== 0 && x0 + 1 >= 0 && x0 + 1 < width;
      const inY0 = y0 >= 0 && y0 < height;
      const inY1 = fy !== 0 && y0 + 1 >= 0 && y0 + 1 < height;
      const w00 = (1 - fx) * (1 - fy);
      const w01 = fx * (1 - fy);
      const w10 = (1 - fx) * fy;
      const w11 = fx * fy;
      const i00 = y0 * rowStride + x0 * channels;
      for (let c = 0; c < channels; c++) {
        const v00 = inY0 && inX0 ? src[i00 + c] : fill;
        const v01 = inY0 && inX1 ? src[i00 + channels + c] : fill;
        const v10 = inY1 && inX0 ? src[i00 + rowStride + c] : fill;
        const v11 = inY1 && inX1 ? src[i00 + rowStride + channels + c] : fill;
        // Grid points copy the value, so identity and 90° turns reproduce it bit for bit.
        out[o + c] = fx === 0 && fy === 0 ? v00 : v00 * w00 + v01 * w01 + v10 * w10 + v11 * w11;
      }
    }
  }
}

/** Augments a float NHWC batch, one random transform per image. Returns x itself when params are identity. */
export type Augmenter = (x: Float32Array, height: number, width: number, channels: number) => Float32Array;

/** A seeded augmenter; successive calls continue the same random stream. */
export function createAugmenter(params: AugmentParams, seed: number): Augmenter {
  validateAugmentParams(params);
  const rng = createRng(seed);
  const identity = isIdentityParams(params);
  return (x, height, width, channels) => augmentBatch(x, height, width, channels, params, rng, identity);
}

/** Augments a batch with transforms drawn from rng; a new array unless params are identity. */
export function augmentBatch(
  x: Float32Array,
  height: number,
  width: number,
  channels: number,
  params: AugmentParams,
  rng: Rng,
  identity = isIdentityParams(params),
): Float32Array {
  if (identity) return x;
  const size = height * width * channels;
  if (x.length % size !== 0)
    throw new Error(`augment: batch of ${x.length} values is not a multiple of ${size}`);
  const out = new Float32Array(x.length);
  for (let off = 0; off < x.length; off += size) {
    const t = sampleTransform(params, rng, height, width);
    transformImage(
      x.subarray(off, off + size),
      out.subarray(off, off + size),
      height,
      width,
      channels,
      t,
      params.fill,
    );
  }
  return out;
}
