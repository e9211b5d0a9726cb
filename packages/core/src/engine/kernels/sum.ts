/**
 * Sum and Mean over leading axes (bias gradients: a [N,H,W,C] gradient summed to [C]; batch norm's
 * moments: a mean over [N,H,W]). The built-in wasm reductions only reduce innermost axes, so tfjs
 * transposes the whole tensor first; here the leading axes are reduced directly as column sums, one
 * pass over memory. Other reductions use the built-ins.
 */
import { type KernelConfig, Mean, Sum, type TensorInfo, util } from '@tensorflow/tfjs';
import { type BackendWasm, callKernel, f32 } from './wasm-heap.ts';

const sum = (args: { inputs: any; backend: unknown; attrs: any }) => reduceLeading(Sum, false, args);
const mean = (args: { inputs: any; backend: unknown; attrs: any }) => reduceLeading(Mean, true, args);

function reduceLeading(
  kernel: typeof Sum | typeof Mean,
  average: boolean,
  args: { inputs: any; backend: unknown; attrs: any },
): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x } = args.inputs as { x: TensorInfo };
  const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
  const rank = x.shape.length;
  const axes = [...new Set(util.parseAxisParam(axis, x.shape))].sort((a, b) => a - b);
  const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || !leading) return callKernel(kernel, backend, { x }, args.attrs);
  const rows = util.sizeFromShape(x.shape.slice(0, axes.length));
  const inner = util.sizeFromShape(x.shape.slice(axes.length));
  const outShape = keepDims ? x.shape.map((d, i) => (i < axes.length ? 1 : d)) : x.shape.slice(axes.length);
  const out = backend.makeOutput(outShape, 'float32');
  const acc = new Float64Array(inner);
  const v = f32(backend, x);
  for (let r = 0; r < rows; r++) {
    const base = r * inner;
    for (let k = 0; k < inner; k++) acc[k] += v[base + k];
  }
  if (average) for (let k = 0; k < inner; k++) acc[k] /= rows;
  f32(backend, out).set(acc);
  return out;
}

export const sumConfig: KernelConfig = { kernelName: Sum, backendName: 'wasm', kernelFunc: sum as any };
export const meanConfig: KernelConfig = { kernelName: Mean, backendName: 'wasm', kernelFunc: mean as any };
