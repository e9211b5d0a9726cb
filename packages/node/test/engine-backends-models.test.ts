/**
 * The same numbers on every backend (issue 4): the zoo models' logits and the ImageNet MobileNet's
 * probabilities computed by the cpu backend, by plain wasm and by wasm with the native oneDNN
 * kernels agree within 1e-4 relative. The native leg is skipped, with the reason, where the addon
 * cannot be built.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { buildModel } from '@convlens/core/models/build';
import { logitsModel } from '@convlens/core/models/logits';
import { MODEL_NAMES } from '@convlens/core/models/zoo';
import { afterAll, describe, expect, it } from 'vitest';
import {
  loadNative,
  nativeCalls,
  registerNativeKernels,
  unregisterNativeKernels,
} from '../src/engine/native.ts';
import { loadModel } from '../src/io/model-io.ts';

const status = loadNative();
const MOBILENET = join(import.meta.dirname, '../../../../shared/models/mobilenet_v1_0.25_224');

function relErr(got: Float32Array, want: Float32Array): number {
  let err = 0;
  let scale = 1e-12;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return err / scale;
}

function seeded(n: number, seed: number, lo: number, hi: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + ((hi - lo) * s) / 2 ** 32;
  });
}

/** Outputs of `f` on cpu, on plain wasm, and on wasm with native kernels (when they load). */
async function onEveryBackend(f: () => Promise<Float32Array>) {
  await initBackend('cpu');
  const cpu = await f();
  await initBackend('wasm');
  unregisterNativeKernels();
  const wasm = await f();
  let native: Float32Array | undefined;
  if (status.ok) {
    registerNativeKernels();
    native = await f();
    unregisterNativeKernels();
  }
  return { cpu, wasm, native };
}

afterAll(() => unregisterNativeKernels());

describe(`every backend gives the same numbers${status.ok ? '' : ` (native leg skipped: ${status.reason})`}`, () => {
  it.each(MODEL_NAMES)(
    'zoo model %s: logits within 1e-4 relative',
    async (name) => {
      await initBackend('cpu');
      const model = buildModel(name, { inputShape: [28, 28, 1], numClasses: 10, seed: 3 });
      const head = logitsModel(model);
      const x = seeded(4 * 784, 11, 0, 1);
      const before = status.ok ? (nativeCalls().Conv2D ?? 0) + (nativeCalls().FusedConv2D ?? 0) : 0;
      const r = await onEveryBackend(async () => {
        const t = tf.tensor4d(x, [4, 28, 28, 1]);
        const y = head.predict(t) as tf.Tensor;
        const v = (await y.data()) as Float32Array;
        tf.dispose([t, y]);
        return v;
      });
      expect(relErr(r.wasm, r.cpu), `${name} wasm`).toBeLessThan(1e-4);
      if (r.native) {
        expect(relErr(r.native, r.cpu), `${name} native`).toBeLessThan(1e-4);
        const after = (nativeCalls().Conv2D ?? 0) + (nativeCalls().FusedConv2D ?? 0);
        expect(after, 'the native convolutions ran').toBeGreaterThan(before);
      }
      model.dispose();
    },
    120_000,
  );

  it.skipIf(!existsSync(MOBILENET))(
    'ImageNet MobileNet 0.25: probabilities within 1e-4 relative',
    async () => {
      await initBackend('wasm');
      const { model } = await loadModel(MOBILENET);
      const x = seeded(224 * 224 * 3, 5, -1, 1);
      const r = await onEveryBackend(async () => {
        const t = tf.tensor4d(x, [1, 224, 224, 3]);
        const y = model.predict(t) as tf.Tensor;
        const v = (await y.data()) as Float32Array;
        tf.dispose([t, y]);
        return v;
      });
      expect(relErr(r.wasm, r.cpu)).toBeLessThan(1e-4);
      if (r.native) expect(relErr(r.native, r.cpu)).toBeLessThan(1e-4);
      model.dispose();
    },
    300_000,
  );
});
