// The MobileNet bench rows: ratios read > 1 when convlens is faster, the table names every measure,
// and the shared models are found from the repo.
import { initBackend } from '@convlens/core/engine/backend';
import { describe, expect, it } from 'vitest';
import { formatKernelProfile, profileMobilenetKernels } from '../src/bench/kernel-profile.ts';
import {
  findMobilenet,
  formatMobilenetBench,
  type MobilenetMeasures,
  mobilenetRatios,
} from '../src/bench/mobilenet.ts';
import { registerNativeKernels, unregisterNativeKernels } from '../src/engine/native.ts';
import { loadModel } from '../src/io/model-io.ts';

const ours: MobilenetMeasures = {
  forward_img_s: 200,
  forward_img_s_by_batch: { 1: 100, 8: 200, 32: 150 },
  input_grad_img_s: 50,
  gradcam_ms: 8,
  ig_ms: 400,
};
const peer = {
  ...ours,
  forward_img_s: 400,
  input_grad_img_s: 25,
  gradcam_ms: 4,
  ig_ms: 800,
  torch: '1.13',
  threads: 2,
};

describe('bench: MobileNet rows', () => {
  it('reads rates as convlens/peer and times as peer/convlens', () => {
    expect(mobilenetRatios(ours, peer)).toEqual({
      forward_img_s: 0.5,
      input_grad_img_s: 2,
      gradcam_ms: 0.5,
      ig_ms: 2,
    });
  });

  it('prints one row per model and measure, with the peer and its ratio', () => {
    const lines = formatMobilenetBench({
      rows: [{ model: 'mobilenet_v1_0.25_224', convlens: ours, peer, ratios: mobilenetRatios(ours, peer) }],
    });
    const text = lines.join('\n');
    for (const m of ['forward_img_s', 'input_grad_img_s', 'gradcam_ms (conv_pw_13_relu)', 'ig_ms (32 steps)'])
      expect(text).toContain(m);
    expect(
      lines
        .find((l) => l.includes('ig_ms'))
        ?.trim()
        .split(/\s+/)
        .slice(-3),
    ).toEqual(['400', '800', '2']);
    expect(text).toContain('torch 1.13, 2 threads');
  });

  it.runIf(findMobilenet('0.25'))('finds the shared MobileNets', () => {
    expect(findMobilenet('0.25')).toMatch(/mobilenet_v1_0\.25_224$/);
    expect(findMobilenet('9.99')).toBeUndefined();
  });

  it.runIf(findMobilenet('0.25'))(
    'profiles the input-gradient and Grad-CAM passes kernel by kernel, with FLOP counts that add up',
    async () => {
      await initBackend('wasm');
      registerNativeKernels();
      const { model } = await loadModel(findMobilenet('0.25') as string);
      try {
        const p = await profileMobilenetKernels(model, 'mobilenet_v1_0.25_224', 2);
        const [grad, cam] = p.passes;
        // Batch 8 through the folded twin: 15 convs and 13 depthwise convs forward and back, 27 masks.
        const row = (pass: typeof grad, k: string) => pass.kernels.find((r) => r.kernel === k);
        expect(row(grad, 'FusedConv2D')?.calls).toBe(15);
        expect(row(grad, 'FusedDepthwiseConv2D')?.calls).toBe(13);
        expect(row(grad, 'ConvlensActivationGrad')?.calls).toBe(27);
        expect(row(grad, 'FusedBatchNorm')).toBeUndefined();
        // MobileNet v1 0.25 is ~41 MMAC per image at 224² (pointwise + depthwise + first conv, without
        // the 1000-way head): the forward convs of 8 images are 2·8·41e6 ≈ 0.66 GFLOP, give or take the head.
        const fwd = (row(grad, 'FusedConv2D')?.gflop ?? 0) + (row(grad, 'FusedDepthwiseConv2D')?.gflop ?? 0);
        expect(fwd).toBeGreaterThan(0.55);
        expect(fwd).toBeLessThan(0.75);
        for (const k of grad.kernels) if (k.gflop) expect(k.gflops).toBeGreaterThan(0);
        expect(cam.kernels.length).toBeGreaterThan(3);
        expect(p.machine.conv_gflops).toBeGreaterThan(0);
        expect(p.machine.elementwise_gbs).toBeGreaterThan(0);
        expect(formatKernelProfile(p).join('\n')).toContain('overhead');
      } finally {
        model.dispose();
        unregisterNativeKernels();
      }
    },
    120_000,
  );
});
