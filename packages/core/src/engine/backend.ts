import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerBatchNormGrad } from './batch-norm-grad.ts';
import { installInputOnlyGradients } from './input-only-grads.ts';
import { registerWasmKernels } from './register.ts';

/** Backends convlens knows how to start. `wasm` is the default in Node; browsers may add webgl/webgpu. */
// Production mode: no "install tfjs-node" banner from the cpu backend (tfjs-node cannot install here).
tf.env().set('PROD', true);

export type BackendName = 'wasm' | 'cpu' | 'webgl' | 'webgpu';

export const BACKENDS: readonly BackendName[] = ['wasm', 'cpu', 'webgl', 'webgpu'];

/**
 * Platform code that must run around the wasm module's start-up (Node's multi-threaded wasm needs
 * globals patched while the module instantiates; see packages/node/src/engine/wasm-threads.ts).
 * Core stays free of Node imports, so the hook is installed from outside.
 */
export interface WasmStartup {
  before(): void;
  /** Called after start-up, also when it failed; returns a notice to show, if any. */
  after(ok: boolean): void;
}

let wasmStartup: WasmStartup | null = null;

export function setWasmStartup(startup: WasmStartup | null): void {
  wasmStartup = startup;
}

/**
 * Selects and initializes a backend. For wasm, convlens's own gradient and fast-path kernels are
 * registered first, so every gradient-based method works on it.
 */
export async function initBackend(name: BackendName = 'wasm'): Promise<BackendName> {
  if (!BACKENDS.includes(name)) {
    throw new Error(`unknown backend '${name}' (expected one of: ${BACKENDS.join(', ')})`);
  }
  // Input gradients (saliency, IG, CAMs) skip the weight gradients tfjs's fused convs compute.
  installInputOnlyGradients();
  registerBatchNormGrad();
  if (name === 'wasm') registerWasmKernels();
  if (tf.getBackend() === name) return name;
  const startup = name === 'wasm' ? wasmStartup : null;
  startup?.before();
  let ok = false;
  try {
    ok = await tf.setBackend(name);
    if (ok) await tf.ready();
  } finally {
    startup?.after(ok);
  }
  if (!ok) throw new Error(`backend '${name}' could not be initialized on this platform`);
  return name;
}

export { tf };
