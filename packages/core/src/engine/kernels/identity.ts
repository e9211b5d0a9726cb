/**
 * Identity without a copy. tfjs's wasm Identity copies the tensor's bytes; the cpu backend instead
 * shares the buffer and counts one more reference, which is safe because kernels never write into
 * their inputs. Gradients and layers call Identity dozens of times per training or act-max step
 * (27 per pw11 input gradient), so the copies were a measurable share of small steps.
 */
import { Identity, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from './wasm-heap.ts';

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

export const identityConfig: KernelConfig = {
  kernelName: Identity,
  backendName: 'wasm',
  kernelFunc: identity as unknown as KernelFunc,
};
