import { describe, expect, it } from 'vitest';
import { isSoftwareRenderer, webglVerdict } from '../src/lib/backend-choice.ts';

// Renderer strings as browsers report them (unmasked, WEBGL_debug_renderer_info).
const SWIFTSHADER =
  'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)';
const LLVMPIPE = 'llvmpipe (LLVM 15.0.6, 256 bits)';
const WARP = 'ANGLE (Microsoft, Microsoft Basic Render Driver Direct3D11 vs_5_0 ps_5_0, D3D11)';
const NVIDIA = 'ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 (0x00002504) Direct3D11 vs_5_0 ps_5_0, D3D11)';
const APPLE = 'Apple M1';
const INTEL = 'Mesa Intel(R) UHD Graphics 620 (KBL GT2)';

describe('backend choice', () => {
  it('tells CPU rasterizers from GPUs by the renderer string', () => {
    for (const r of [SWIFTSHADER, LLVMPIPE, WARP, 'Google SwiftShader', 'softpipe']) {
      expect([r, isSoftwareRenderer(r)]).toEqual([r, true]);
    }
    for (const r of [NVIDIA, APPLE, INTEL]) expect([r, isSoftwareRenderer(r)]).toEqual([r, false]);
  });

  it('passes over webgl on a software renderer, without a context, or unknown with no GPU adapter', () => {
    expect(webglVerdict(SWIFTSHADER, false)).toEqual({ ok: false, why: 'software renderer (SwiftShader)' });
    expect(webglVerdict(LLVMPIPE, true)).toEqual({ ok: false, why: 'software renderer (llvmpipe)' });
    expect(webglVerdict(null, true)).toEqual({ ok: false, why: 'no webgl context' });
    expect(webglVerdict('', false)).toEqual({ ok: false, why: 'unknown renderer and no GPU adapter' });
    expect(webglVerdict('', true)).toEqual({ ok: true });
    expect(webglVerdict(NVIDIA, false)).toEqual({ ok: true });
  });
});
