// The MobileNet bench rows: ratios read > 1 when convlens is faster, the table names every measure,
// and the shared models are found from the repo.
import { describe, expect, it } from 'vitest';
import {
  findMobilenet,
  formatMobilenetBench,
  type MobilenetMeasures,
  mobilenetRatios,
} from '../src/bench/mobilenet.ts';

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
});
