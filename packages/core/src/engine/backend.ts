import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmKernels } from './register.ts';

/** Backends convlens knows how to start. `wasm` is the default in Node; browsers may add webgl/webgpu. */
// Production mode: no "install tfjs-node" banner from the cpu backend (tfjs-node cannot install here).
tf.env().set('PROD', true);

export type BackendName = 'wasm' | 'cpu' | 'webgl' | 'webgpu';

export const BACKENDS: readonly BackendName[] = ['wasm', 'cpu', 'webgl', 'webgpu'];

/**
 * Selects and initializes a backend. For wasm, convlens's own gradient and fast-path kernels are
 * registered first, so every gradient-based method works on it.
 */
export async function initBackend(name: BackendName = 'wasm'): Promise<BackendName> {
  if (!BACKENDS.includes(name)) {
    throw new Error(`unknown backend '${name}' (expected one of: ${BACKENDS.join(', ')})`);
  }
  if (name === 'wasm') registerWasmKernels();
  if (tf.getBackend() === name) return name;
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`backend '${name}' could not be initialized on this platform`);
  await tf.ready();
  return name;
}

export { tf };
