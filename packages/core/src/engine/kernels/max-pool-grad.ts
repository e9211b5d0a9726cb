/**
 * MaxPoolGrad for wasm: routes each output gradient to the position of its window's maximum (the
 * first one on ties, as TensorFlow does). Replaces the built-in wasm kernel, which profiled as the
 * slowest kernel of a pw11 training step; this is one pass over the input, channels innermost.
 */
import { backend_util, type KernelConfig, MaxPoolGrad, type TensorInfo } from '@tensorflow/tfjs';
import { type BackendWasm, f32 } from './wasm-heap.ts';

function maxPoolGrad(args: { inputs: any; backend: unknown; attrs: any }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs;
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const dx = backend.makeOutput(input.shape, 'float32');
  const o = f32(backend, dx);
  const x = f32(backend, input);
  const g = f32(backend, dy);
  o.fill(0);
  route(x, g, o, batchSize, inHeight, inWidth, c, outHeight, outWidth, fh, fw, sh, sw, top, left);
  return dx;
}

/** The hot loop, kept in its own small function with numeric parameters so V8 optimizes it well. */
function route(
  x: Float32Array,
  g: Float32Array,
  o: Float32Array,
  batchSize: number,
  inHeight: number,
  inWidth: number,
  c: number,
  outHeight: number,
  outWidth: number,
  fh: number,
  fw: number,
  sh: number,
  sw: number,
  top: number,
  left: number,
): void {
  const best = new Float32Array(c);
  const where = new Int32Array(c);
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const h0 = Math.max(0, oh * sh - top);
      const h1 = Math.min(inHeight, oh * sh - top + fh);
      for (let ow = 0; ow < outWidth; ow++) {
        const w0 = Math.max(0, ow * sw - left);
        const w1 = Math.min(inWidth, ow * sw - left + fw);
        if (h0 >= h1 || w0 >= w1) continue;
        // Seed with the window's first pixel, then keep strictly greater values: the first maximum wins.
        const first = ((b * inHeight + h0) * inWidth + w0) * c;
        for (let k = 0; k < c; k++) {
          best[k] = x[first + k];
          where[k] = first + k;
        }
        for (let h = h0; h < h1; h++) {
          for (let w = h === h0 ? w0 + 1 : w0; w < w1; w++) {
            const base = ((b * inHeight + h) * inWidth + w) * c;
            for (let k = 0; k < c; k++) {
              const v = x[base + k];
              if (v > best[k]) {
                best[k] = v;
                where[k] = base + k;
              }
            }
          }
        }
        const gBase = ((b * outHeight + oh) * outWidth + ow) * c;
        for (let k = 0; k < c; k++) o[where[k]] += g[gBase + k];
      }
    }
  }
}

export const maxPoolGradConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as any,
};
