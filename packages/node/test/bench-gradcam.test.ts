// The benchmark's Grad-CAM measure and the direction of its ratios (> 1 means convlens is faster).
import { initBackend, tf } from '@convlens/core/engine/backend';
import { buildModel } from '@convlens/core/models/build';
import { describe, expect, it } from 'vitest';
import { benchRatios } from '../src/bench/bench.ts';
import { type ConvlensBench, lastConvLayer, measureGradcam } from '../src/bench/measure.ts';
import type { PeerResult } from '../src/bench/peer.ts';

describe('bench: Grad-CAM', () => {
  it('times Grad-CAM at the last conv layer of pw11 without leaking tensors', async () => {
    await initBackend('wasm');
    const model = buildModel('pw11', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    expect(model.getLayer(lastConvLayer(model)).getClassName()).toBe('Conv2D');
    expect((model.getLayer(lastConvLayer(model)).outputShape as number[]).slice(1)).toEqual([24, 24, 64]);
    await measureGradcam(model, 2, { reps: 1, warmup: 1 });
    const before = tf.memory().numTensors;
    const ms = await measureGradcam(model, 2, { reps: 2, warmup: 0 });
    expect(ms).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('reads every ratio as convlens speed over peer speed, and skips what the peer lacks', () => {
    const ours = { forward_img_s: 1000, gradcam_ms: 2, gradcam_b64_ms: 0.5 } as ConvlensBench;
    const peer = { forward_img_s: 2000, gradcam_ms: 1 } as PeerResult;
    const r = benchRatios(ours, peer);
    expect(r.forward_img_s).toBe(0.5);
    expect(r.gradcam_ms).toBe(0.5);
    expect(r).not.toHaveProperty('gradcam_b64_ms');
    expect(r).not.toHaveProperty('train_img_s');
  });
});
