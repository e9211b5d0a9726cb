/**
 * Registers convlens's wasm kernels: the gradient kernels the wasm backend lacks, and fast
 * replacements for built-in backward kernels. Built-ins are unregistered first and kept (with their
 * setupFunc) so the replacements can call them.
 */
import { getKernel, type KernelConfig, registerKernel, unregisterKernel } from '@tensorflow/tfjs';
import { activationGradConfig } from './kernels/activation-grad.ts';
import { batchMatMulConfig, fusedMatMulConfig } from './kernels/batch-matmul.ts';
import { fusedBatchNormConfig, maximumConfig, minimumConfig } from './kernels/channel-ops.ts';
import { conv2dBackpropFilterConfig } from './kernels/conv2d-backprop-filter.ts';
import { conv2dBackpropInputConfig } from './kernels/conv2d-backprop-input.ts';
import { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from './kernels/depthwise-backprop.ts';
import { castConfig, identityConfig } from './kernels/identity.ts';
import { maxPoolGradConfig } from './kernels/max-pool-grad.ts';
import { meanConfig, sumConfig } from './kernels/sum.ts';
import { tileConfig } from './kernels/tile.ts';
import { unsortedSegmentSumConfig } from './kernels/unsorted-segment-sum.ts';
import { saveOriginal } from './kernels/wasm-heap.ts';

/** Kernels the wasm backend does not have at all. */
export const ADDED_KERNELS: KernelConfig[] = [
  conv2dBackpropFilterConfig,
  depthwiseBackpropInputConfig,
  depthwiseBackpropFilterConfig,
  unsortedSegmentSumConfig,
  activationGradConfig,
];

/** Built-in wasm kernels replaced by faster compositions of forward primitives. */
export const REPLACED_KERNELS: KernelConfig[] = [
  conv2dBackpropInputConfig,
  batchMatMulConfig,
  fusedMatMulConfig,
  maxPoolGradConfig,
  sumConfig,
  meanConfig,
  identityConfig,
  castConfig,
  tileConfig,
  fusedBatchNormConfig,
  minimumConfig,
  maximumConfig,
];

let registered = false;

export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  for (const config of ADDED_KERNELS) {
    if (!getKernel(config.kernelName, 'wasm')) registerKernel(config);
  }
  for (const config of REPLACED_KERNELS) {
    const builtin = getKernel(config.kernelName, 'wasm');
    if (builtin) {
      saveOriginal(builtin);
      unregisterKernel(config.kernelName, 'wasm');
    }
    // The replacement calls the built-in, whose setupFunc binds its wasm function: keep it.
    registerKernel({ ...config, setupFunc: builtin?.setupFunc });
  }
}
