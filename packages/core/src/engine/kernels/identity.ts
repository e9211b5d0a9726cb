/**
 * Identity without a copy. tfjs's wasm Identity copies the tensor's bytes; the cpu backend instead
 * shares the buffer and counts one more reference, which is safe because kernels never write into
 * their inputs. Gradients and layers call Identity dozens of times per training or act-max step
 * (27 per pw11 input gradient), so the copies were a measurable share of small steps. A Cast to
 * the dtype a tensor already has is the same thing.
 */
import {
  Cast,
  type DataType,
  Identity,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { type BackendWasm, callKernel } from './wasm-heap.ts';

interface RefCounted {
  dataIdMap: { get(id: object): { refCount: number } | undefined };
}

function identity({ inputs, backend }: { inputs: { x: TensorInfo }; backend: BackendWasm }): TensorInfo {
  const { x } = inputs;
  const data = (backend as unknown as RefCounted).dataIdMap.get(x.dataId);
  if (!data || x.dtype === 'string') throw new Error(`Identity: no data for a ${x.dtype} tensor`);
  data.refCount++;
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Cast to the dtype a tensor already has (tf.moments and the losses do it) is an Identity too. */
function cast(args: {
  inputs: { x: TensorInfo };
  backend: BackendWasm;
  attrs: { dtype: DataType };
}): TensorInfo {
  const { x } = args.inputs;
  if (x.dtype === args.attrs.dtype && x.dtype !== 'string') return identity(args);
  return callKernel(Cast, args.backend, { x }, args.attrs as unknown as Record<string, string>);
}

export const castConfig: KernelConfig = {
  kernelName: Cast,
  backendName: 'wasm',
  kernelFunc: cast as unknown as KernelFunc,
};

export const identityConfig: KernelConfig = {
  kernelName: Identity,
  backendName: 'wasm',
  kernelFunc: identity as unknown as KernelFunc,
};
