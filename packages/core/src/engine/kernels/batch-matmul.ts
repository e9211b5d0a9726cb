/**
 * BatchMatMul and _FusedMatMul with transposed operands. The built-in wasm kernel runs the transposed
 * forms ~10× slower than the plain one, and tfjs's matMul gradient always asks for them
 * (dA = dy·Bᵀ, dB = Aᵀ·dy). Transposing explicitly (a memory-bound SIMD copy) and calling the plain
 * kernel is far faster.
 */
import { _FusedMatMul, BatchMatMul, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs';
import { type BackendWasm, callKernel, free } from './wasm-heap.ts';

/** Swaps the two innermost axes of a rank ≥ 2 tensor. */
function transposeInner(backend: BackendWasm, x: TensorInfo): TensorInfo {
  const r = x.shape.length;
  const perm = [...Array(r).keys()];
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return callKernel('Transpose', backend, { x }, { perm });
}

function withPlainOperands(kernelName: string) {
  return (args: { inputs: any; backend: unknown; attrs: any }): TensorInfo => {
    const backend = args.backend as BackendWasm;
    const { a, b, ...rest } = args.inputs as Record<string, TensorInfo>;
    const { transposeA, transposeB } = args.attrs;
    const a2 = transposeA ? transposeInner(backend, a) : a;
    const b2 = transposeB ? transposeInner(backend, b) : b;
    const out = callKernel(
      kernelName,
      backend,
      { a: a2, b: b2, ...rest },
      {
        ...args.attrs,
        transposeA: false,
        transposeB: false,
      },
    );
    if (a2 !== a) free(backend, a2);
    if (b2 !== b) free(backend, b2);
    return out;
  };
}

export const batchMatMulConfig: KernelConfig = {
  kernelName: BatchMatMul,
  backendName: 'wasm',
  kernelFunc: withPlainOperands(BatchMatMul) as any,
};

export const fusedMatMulConfig: KernelConfig = {
  kernelName: _FusedMatMul,
  backendName: 'wasm',
  kernelFunc: withPlainOperands(_FusedMatMul) as any,
};
