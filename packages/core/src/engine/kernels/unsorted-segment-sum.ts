/** UnsortedSegmentSum for wasm (gather's gradient): out[s] = Σ x[i] over i with segmentIds[i] = s. */
import { type KernelConfig, type TensorInfo, UnsortedSegmentSum, util } from '@tensorflow/tfjs';
import { type BackendWasm, f32, i32 } from './wasm-heap.ts';

function unsortedSegmentSum(args: { inputs: any; backend: unknown; attrs: any }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, segmentIds } = args.inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = args.attrs as { numSegments: number };
  if (x.dtype !== 'float32') throw new Error(`UnsortedSegmentSum (wasm): dtype ${x.dtype} is not supported`);
  const idRank = segmentIds.shape.length;
  const inner = util.sizeFromShape(x.shape.slice(idRank));
  const outShape = [numSegments, ...x.shape.slice(idRank)];
  const out = backend.makeOutput(outShape, 'float32');
  const o = f32(backend, out);
  const xv = f32(backend, x);
  const ids = segmentIds.dtype === 'int32' ? i32(backend, segmentIds) : f32(backend, segmentIds);
  o.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue; // TF drops out-of-range ids
    const src = i * inner;
    const dst = s * inner;
    for (let k = 0; k < inner; k++) o[dst + k] += xv[src + k];
  }
  return out;
}

export const unsortedSegmentSumConfig: KernelConfig = {
  kernelName: UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum as any,
};
