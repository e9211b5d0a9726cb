/**
 * Tile by block copies. tfjs's wasm Tile computes a source index per output element; batch norm's
 * gradient tiles its [1, 1, 1, C] statistics over whole activations several times per step, which
 * made Tile two thirds of a cnn2 training step (613 of 920 ms). Here each axis, innermost first,
 * repeats contiguous blocks with copyWithin doubling: a few memcpy passes over the output.
 */
import { type KernelConfig, type KernelFunc, type TensorInfo, Tile } from '@tensorflow/tfjs';
import { type BackendWasm, callKernel } from './wasm-heap.ts';

type Numbers = Float32Array | Int32Array | Uint8Array;

/** Tiles row-major `src` of `shape` by `reps` (pure: used by the kernel and its test). */
export function tileValues(src: Numbers, shape: number[], reps: number[]): Numbers {
  let cur = src;
  const curShape = [...shape];
  for (let i = shape.length - 1; i >= 0; i--) {
    const r = reps[i];
    if (r === 1) continue;
    const chunk = curShape.slice(i).reduce((a, b) => a * b, 1);
    const outer = curShape.slice(0, i).reduce((a, b) => a * b, 1);
    const next = new (cur.constructor as new (n: number) => Numbers)(outer * chunk * r);
    for (let o = 0; o < outer; o++) {
      const base = o * chunk * r;
      next.set(cur.subarray(o * chunk, (o + 1) * chunk), base);
      const total = chunk * r;
      for (let filled = chunk; filled < total; ) {
        const n = Math.min(filled, total - filled);
        next.copyWithin(base + filled, base, base + n);
        filled += n;
      }
    }
    curShape[i] *= r;
    cur = next;
  }
  return cur;
}

function tile({
  inputs,
  backend,
  attrs,
}: {
  inputs: { x: TensorInfo };
  backend: BackendWasm;
  attrs: { reps: number[] };
}): TensorInfo {
  const { x } = inputs;
  const { reps } = attrs;
  if (x.dtype === 'string' || x.dtype === 'complex64')
    return callKernel('Tile', backend, { x }, attrs as unknown as Record<string, number[]>);
  const outShape = x.shape.map((d, i) => d * reps[i]);
  const values = tileValues(backend.typedArrayFromHeap(x) as Numbers, x.shape, reps);
  const out = backend.makeOutput(outShape, x.dtype);
  (backend.typedArrayFromHeap(out) as Numbers).set(values);
  return out;
}

export const tileConfig: KernelConfig = {
  kernelName: Tile,
  backendName: 'wasm',
  kernelFunc: tile as unknown as KernelFunc,
};
