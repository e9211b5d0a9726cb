/**
 * Per-channel and scalar elementwise kernels where tfjs's wasm versions take a slow generic path:
 * - FusedBatchNorm with [C] statistics (inference, and training with batch moments): one pass
 *   y = x·s[c] + o[c] with s = scale/√(var+ε), o = offset − mean·s, instead of a per-element
 *   broadcast index computation (140 ms of a 32-image MobileNet forward).
 * - Minimum/Maximum against a scalar (ReLU layers with a max value, relu6): the SIMD ClipByValue
 *   kernel (the generic broadcast took 196 ms of the same forward).
 * Anything else goes to the built-in kernel.
 */
import { FusedBatchNorm, type KernelConfig, Maximum, Minimum, type TensorInfo, util } from '@tensorflow/tfjs';
import { type BackendWasm, callKernel, f32 } from './wasm-heap.ts';

type Args = { inputs: Record<string, TensorInfo | undefined>; backend: unknown; attrs: any };

/** A [C] (or size-1) float32 vector's values broadcast to C channels, or null. */
function perChannel(
  backend: BackendWasm,
  t: TensorInfo | undefined,
  c: number,
  fill: number,
): Float32Array | null {
  if (!t) return new Float32Array(c).fill(fill);
  if (t.dtype !== 'float32') return null;
  const n = util.sizeFromShape(t.shape);
  const lastDimOnly = t.shape.slice(0, -1).every((d) => d === 1);
  if (n === c && lastDimOnly) return Float32Array.from(f32(backend, t));
  if (n === 1) return new Float32Array(c).fill(f32(backend, t)[0]);
  return null;
}

function batchNorm(args: Args): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, mean, variance, offset, scale } = args.inputs as Record<string, TensorInfo>;
  const eps = args.attrs.varianceEpsilon as number;
  const c = x.shape[x.shape.length - 1] ?? 1;
  const m = perChannel(backend, mean, c, 0);
  const v = perChannel(backend, variance, c, 1);
  const o = perChannel(backend, args.inputs.offset, c, 0);
  const g = perChannel(backend, args.inputs.scale, c, 1);
  if (x.dtype !== 'float32' || x.shape.length < 1 || !m || !v || !o || !g)
    return callKernel(
      FusedBatchNorm,
      backend,
      { x, mean, variance, ...(offset ? { offset } : {}), ...(scale ? { scale } : {}) },
      args.attrs,
    );
  const s = new Float32Array(c);
  const b = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    s[k] = g[k] / Math.sqrt(v[k] + eps);
    b[k] = o[k] - m[k] * s[k];
  }
  const out = backend.makeOutput(x.shape, 'float32');
  const xv = f32(backend, x);
  const yv = f32(backend, out);
  for (let i = 0; i < xv.length; i += c) for (let k = 0; k < c; k++) yv[i + k] = xv[i + k] * s[k] + b[k];
  return out;
}

/** min(a, scalar) / max(a, scalar) (either side scalar) as ClipByValue. */
function scalarClip(kernel: typeof Minimum | typeof Maximum) {
  return (args: Args): TensorInfo => {
    const backend = args.backend as BackendWasm;
    const { a, b } = args.inputs as Record<string, TensorInfo>;
    const scalarOf = (t: TensorInfo) => t.dtype === 'float32' && util.sizeFromShape(t.shape) === 1;
    const [x, s] = scalarOf(b) ? [a, b] : scalarOf(a) ? [b, a] : [null, null];
    // Keep the built-in when the scalar side would change the output's rank or dtype.
    if (!x || !s || x.dtype !== 'float32' || s.shape.length > x.shape.length)
      return callKernel(kernel, backend, { a, b });
    const value = f32(backend, s)[0];
    if (Number.isNaN(value)) return callKernel(kernel, backend, { a, b });
    return callKernel(
      'ClipByValue',
      backend,
      { x },
      {
        clipValueMin: kernel === Maximum ? value : -Infinity,
        clipValueMax: kernel === Minimum ? value : Infinity,
      },
    );
  };
}

export const fusedBatchNormConfig: KernelConfig = {
  kernelName: FusedBatchNorm,
  backendName: 'wasm',
  kernelFunc: batchNorm as any,
};
export const minimumConfig: KernelConfig = {
  kernelName: Minimum,
  backendName: 'wasm',
  kernelFunc: scalarClip(Minimum) as any,
};
export const maximumConfig: KernelConfig = {
  kernelName: Maximum,
  backendName: 'wasm',
  kernelFunc: scalarClip(Maximum) as any,
};
