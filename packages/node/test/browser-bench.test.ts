/**
 * `convlens bench --browser` as a smoke test (no timing asserts): the real server on MobileNet v1 0.25,
 * headless chromium uploads coffee.png, the network view's maps appear, and Explain runs a method of
 * each family. The page must be cross-origin isolated, run threaded wasm on every core, pass over
 * the software webgl headless chromium offers, and every method must draw a finite, non-constant map.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CHROMIUM, formatBrowserBench, measureBrowser } from '../src/bench/browser.ts';
import { findMobilenet } from '../src/bench/mobilenet.ts';

const MOBILENET = findMobilenet('0.25');
const COFFEE = join(import.meta.dirname, '../../../../shared/images/coffee.png');
const hasChromium = existsSync(DEFAULT_CHROMIUM);
if (!hasChromium)
  console.warn(`browser bench test skipped: no chromium at ${DEFAULT_CHROMIUM} (set CHROMIUM_PATH)`);
if (!MOBILENET)
  console.warn('browser bench test skipped: mobilenet_v1_0.25_224 not found (../shared/models)');

// One of each family: CAMs, gradients, path/noise sampling, propagation rules, perturbation, controls.
const METHODS = [
  'gradcam',
  'scorecam',
  'saliency',
  'ig',
  'smoothgrad',
  'guided-backprop',
  'lrp',
  'occlusion',
  'sobel',
];

describe.skipIf(!hasChromium || !MOBILENET || !existsSync(COFFEE))('convlens bench --browser', () => {
  it('MobileNet 0.25 in headless chromium: isolated, threaded wasm, every method a real map', async () => {
    const lines: string[] = [];
    const b = await measureBrowser(
      { modelDir: MOBILENET, image: COFFEE, methods: METHODS, gradcamReps: 1, timeoutMs: 80_000 },
      (s) => lines.push(s),
    );
    console.log(formatBrowserBench(b).join('\n'));
    expect(b.model).toBe('mobilenet_v1_0.25_224');
    expect(b.crossOriginIsolated).toBe(true);
    expect(b.failed_requests).toEqual([]);
    expect(b.wasm_files).toEqual(['tfjs-backend-wasm-threaded-simd.wasm']);
    expect(b.threads).toBe(b.cores);
    if (b.cores > 1) expect(b.threads).toBeGreaterThan(1);
    // Headless chromium's webgl is SwiftShader (or absent): wasm wins.
    expect(b.backend).toBe('wasm');
    expect(b.skipped.join('; ')).toMatch(/webgl: (software renderer|no webgl context)/);
    expect(Object.keys(b.methods).sort()).toEqual([...METHODS].sort());
    for (const [id, m] of Object.entries(b.methods)) {
      expect({ id, error: m.error, finite: m.finite, nonConstant: m.nonConstant }).toEqual({
        id,
        error: undefined,
        finite: true,
        nonConstant: true,
      });
      expect(m.seconds).toBeGreaterThan(0);
    }
    for (const t of [b.maps_s, b.maps_probe_s, b.gradcam_s, b.gradcam_warm_s, b.all_methods_s]) {
      expect(Number.isFinite(t) && t > 0).toBe(true);
    }
    expect(b.maps_probe_s).toBeLessThan(b.maps_s);
    // The maps were timed once the layer grids in view had drawn (MapGrid draws those on screen).
    expect(b.maps_grids).toBeGreaterThan(0);
    // 224² input: the expensive methods ran at the explorer's quick budgets, and say which.
    expect(b.methods.scorecam.budget).toMatch(/^24 channels .*Faster-Score-CAM/);
    expect(b.methods.ig.budget).toBe('12 path steps');
    expect(b.methods.occlusion.budget).toBe('32px windows, stride 32');
    expect(b.methods.gradcam.budget).toBeUndefined();
  }, 150_000);
});
