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

const size = (x: TensorInfo) => x.shape.reduce((p, d) => p * d, 1);

/**
 * A·Bᵀ as (B·Aᵀ)ᵀ when that moves fewer floats. XNNPACK packs the right operand afresh on every
 * call, so for a small A and a large B (a dense layer's input gradient at small batch: dy·Wᵀ, as in
 * act-max and Grad-CAM) transposing and packing A plus transposing the small result beats
 * transposing and packing all of W by one to two orders of magnitude.
 */
function viaSwappedProduct(backend: BackendWasm, a: TensorInfo, b: TensorInfo): TensorInfo | null {
  const r = a.shape.length;
  const m = a.shape[r - 2];
  const n = b.shape[b.shape.length - 2];
  const batch = Math.max(size(a) / (m * a.shape[r - 1]), size(b) / (n * b.shape[b.shape.length - 1]));
  if (2 * size(a) + batch * m * n >= 2 * size(b)) return null;
  const at = transposeInner(backend, a);
  const ct = callKernel(BatchMatMul, backend, { a: b, b: at }, { transposeA: false, transposeB: false });
  free(backend, at);
  const c = transposeInner(backend, ct);
  free(backend, ct);
  return c;
}

function withPlainOperands(kernelName: string) {
  return (args: { inputs: any; backend: unknown; attrs: any }): TensorInfo => {
    const backend = args.backend as BackendWasm;
    const { a, b, ...rest } = args.inputs as Record<string, TensorInfo>;
    const { transposeA, transposeB } = args.attrs;
    // Only the plain product: the fused kernel's bias and activation apply to C's layout.
    if (kernelName === BatchMatMul && transposeB && !transposeA) {
      const c = viaSwappedProduct(backend, a, b);
      if (c) return c;
    }
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
