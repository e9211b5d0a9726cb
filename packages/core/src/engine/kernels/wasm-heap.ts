/**
 * Helpers for kernels that work directly on the wasm backend's heap. Kernels here follow tfjs's own
 * convention: they receive TensorInfos, may call other registered kernels' functions (outputs are
 * plain TensorInfos, not engine tensors), and free every intermediate with `backend.disposeData`.
 */
import {
  backend_util,
  getKernel,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type { BackendWasm };

/** Built-in wasm kernels that convlens overrides, saved before unregistering so they stay callable. */
const originals = new Map<string, KernelConfig>();

export function saveOriginal(config: KernelConfig): void {
  if (!originals.has(config.kernelName)) originals.set(config.kernelName, config);
}

export function originalKernel(name: string): KernelConfig | undefined {
  return originals.get(name);
}

/** Calls a wasm kernel by name: the saved built-in if convlens overrode it, else the registered one. */
export function callKernel(
  name: string,
  backend: BackendWasm,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const config = originals.get(name) ?? getKernel(name, 'wasm');
  if (!config) throw new Error(`wasm kernel ${name} is not registered`);
  const fn = config.kernelFunc as KernelFunc;
  return fn({ inputs, backend, attrs }) as TensorInfo;
}

/**
 * A Float32Array view on a tensor's heap memory. Views go stale when the heap grows (any
 * allocation may grow it), so take views after allocating outputs and don't keep them across calls.
 */
export function f32(backend: BackendWasm, info: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

export function i32(backend: BackendWasm, info: TensorInfo): Int32Array {
  return backend.typedArrayFromHeap(info) as Int32Array;
}

export function free(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

/** Transposes a rank-2 float tensor with the wasm Transpose kernel (SIMD, much faster than JS loops). */
export function transpose2d(backend: BackendWasm, x: TensorInfo): TensorInfo {
  return callKernel('Transpose', backend, { x }, { perm: [1, 0] });
}

/** Reinterprets a tensor with a new shape, sharing memory (refcounted like tfjs's Reshape). */
export function reshape(backend: BackendWasm, x: TensorInfo, shape: number[]): TensorInfo {
  return callKernel('Reshape', backend, { x }, { shape });
}

/**
 * A tensor info that aliases `count` floats of `base` starting at element `offset`, without copying.
 * Release it with `dropAlias`, never `free` (the memory belongs to `base`).
 */
export function aliasSlice(
  backend: BackendWasm,
  base: TensorInfo,
  offset: number,
  shape: number[],
): TensorInfo {
  const memoryOffset = (backend as any).dataIdMap.get(base.dataId).memoryOffset + offset * 4;
  return backend.makeOutput(shape, 'float32', memoryOffset);
}

export function dropAlias(backend: BackendWasm, alias: TensorInfo): void {
  const map = (backend as any).dataIdMap;
  const { id } = map.get(alias.dataId);
  map.delete(alias.dataId);
  // Lets the C++ side drop operators cached for this id; the memory itself is not freed.
  (backend as any).wasm.tfjs.disposeData(id);
}

/** Geometry of an NHWC 2-D convolution from a backward kernel's attributes (no dilation: tfjs passes none). */
export function nhwcConvInfo(
  kernel: string,
  xShape: number[],
  filterShape: number[],
  attrs: { strides: number | [number, number]; pad: any; dataFormat: any; dimRoundingMode?: any },
): backend_util.Conv2DInfo {
  const info = backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
  if (info.dataFormat !== 'channelsLast') throw new Error(`${kernel} (wasm): only NHWC is supported`);
  return info;
}
