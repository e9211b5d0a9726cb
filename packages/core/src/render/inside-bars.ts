/** Dense-layer activations as a bar strip: one bar per unit from a zero baseline (negative bars point down). */
import { type ValueRange, valueRange } from './colormap.ts';
import { createImage, type RGBAImage } from './image.ts';

export interface BarOptions {
  barWidth?: number;
  height?: number;
  /** Range the strip spans (default: the values' range, always including 0). */
  range?: ValueRange;
  /** Unit to highlight (e.g. the predicted class). */
  highlight?: number;
}

const POS: [number, number, number] = [31, 119, 180];
const NEG: [number, number, number] = [214, 39, 40];
const HIGHLIGHT: [number, number, number] = [255, 127, 14];

export function barStrip(
  values: ArrayLike<number>,
  opts: BarOptions = {},
): { image: RGBAImage; range: ValueRange } {
  const bw = opts.barWidth ?? Math.max(2, Math.min(16, Math.floor(512 / Math.max(1, values.length))));
  const H = opts.height ?? 80;
  const r = opts.range ?? valueRange(values);
  const lo = Math.min(0, r.min);
  const hi = Math.max(0, r.max);
  const span = hi - lo || 1;
  const img = createImage(Math.max(1, values.length * bw), H);
  const yOf = (v: number) => Math.round(((hi - v) / span) * (H - 1));
  const zero = yOf(0);
  for (let i = 0; i < values.length; i++) {
    const v = Math.max(lo, Math.min(hi, values[i]));
    const y = yOf(v);
    const colour = i === opts.highlight ? HIGHLIGHT : v >= 0 ? POS : NEG;
    const [a, b] = y < zero ? [y, zero] : [zero, y];
    for (let yy = a; yy <= b; yy++)
      for (let x = i * bw; x < (i + 1) * bw - (bw > 2 ? 1 : 0); x++)
        img.data.set([...colour, 255], (yy * img.width + x) * 4);
  }
  // Baseline in grey so an all-zero layer is still visibly drawn.
  for (let x = 0; x < img.width; x++) img.data.set([120, 120, 120, 255], (zero * img.width + x) * 4);
  return { image: img, range: { min: lo, max: hi } };
}
