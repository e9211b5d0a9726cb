/**
 * ConvlensActivationGrad: dx = dy where the activation's output y is strictly inside its linear range
 * (relu: y > 0; relu6: 0 < y < 6), else 0, in one pass. tfjs composes relu6's gradient from five
 * elementwise kernels (greater, cast, step, cast, multiply), each a full pass over the activation;
 * the folded conv layers (models/folded-conv.ts) call this instead. A convlens kernel name: the wasm
 * backend gets this JS loop (the native addon replaces it); other backends compose tfjs ops.
 */
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs';
import { type BackendWasm, f32 } from './wasm-heap.ts';

export const ACTIVATION_GRAD = 'ConvlensActivationGrad';

/** The upper end of an activation's linear range (Infinity: relu). */
export function activationCap(activation: 'relu' | 'relu6'): number {
  return activation === 'relu6' ? 6 : Number.POSITIVE_INFINITY;
}

function activationGrad(args: { inputs: any; backend: unknown; attrs: any }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, y } = args.inputs as { dy: TensorInfo; y: TensorInfo };
  const cap = args.attrs.cap as number;
  const out = backend.makeOutput(dy.shape, 'float32');
  const d = f32(backend, dy);
  const v = f32(backend, y);
  const o = f32(backend, out);
  // dy times the 0/1 mask, so NaN/inf in dy propagate as in tfjs's mul(dy, mask).
  for (let i = 0; i < o.length; i++) o[i] = d[i] * (v[i] > 0 && v[i] < cap ? 1 : 0);
  return out;
}

export const activationGradConfig: KernelConfig = {
  kernelName: ACTIVATION_GRAD,
  backendName: 'wasm',
  kernelFunc: activationGrad as any,
};
