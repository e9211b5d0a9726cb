/**
 * Which tfjs backend the explorer's engine worker should try, by what the browser's graphics really
 * are. Headless chromium without a GPU offers webgl through SwiftShader (a CPU rasterizer): tfjs's
 * webgl backend starts there and runs every op as a shader on the CPU, slower than the wasm backend by
 * 10–100× (Explain on MobileNet 0.75 did not finish in 300 s), so a software renderer never wins over
 * wasm. An explicit `?backend=` still forces any backend.
 */

/** Renderer strings of CPU rasterizers: SwiftShader (Chrome), llvmpipe/softpipe (Mesa), WARP (Windows). */
const SOFTWARE = /swiftshader|llvmpipe|softpipe|software|basic render driver|microsoft basic/i;

export function isSoftwareRenderer(renderer: string): boolean {
  return SOFTWARE.test(renderer);
}

/**
 * The webgl renderer string (the unmasked one where WEBGL_debug_renderer_info is offered), or null
 * when no webgl context can be made. Works in a worker (OffscreenCanvas) and on a page.
 */
export function webglRenderer(): string | null {
  try {
    const canvas =
      typeof OffscreenCanvas !== 'undefined'
        ? new OffscreenCanvas(1, 1)
        : (document.createElement('canvas') as HTMLCanvasElement);
    const gl = (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) as WebGLRenderingContext | null;
    if (!gl) return null;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER) ?? '');
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return renderer;
  } catch {
    return null;
  }
}

/** A hardware WebGPU adapter, or why there is none (no API, no adapter, or a software fallback adapter). */
export async function webgpuAdapter(timeoutMs = 3000): Promise<{ ok: true } | { ok: false; why: string }> {
  const gpu = (navigator as any).gpu;
  if (!gpu) return { ok: false, why: 'not offered by this browser' };
  const adapter = await Promise.race([
    gpu.requestAdapter().catch(() => null),
    new Promise((r) => setTimeout(() => r(null), timeoutMs)),
  ]);
  if (!adapter) return { ok: false, why: 'no GPU adapter' };
  const a = adapter as any;
  if (a.isFallbackAdapter || a.info?.isFallbackAdapter)
    return { ok: false, why: 'software fallback adapter' };
  return { ok: true };
}

/**
 * Whether webgl should be tried: not on a software renderer, and not when the renderer cannot be
 * read and the browser has no GPU adapter either (nothing says there is a GPU behind webgl).
 */
export function webglVerdict(
  renderer: string | null,
  gpuAdapter: boolean,
): { ok: true } | { ok: false; why: string } {
  if (renderer === null) return { ok: false, why: 'no webgl context' };
  const soft = SOFTWARE.exec(renderer);
  // The rasterizer's name only: the full string (ANGLE's, a line long) is in EngineInfo.renderer.
  if (soft) return { ok: false, why: `software renderer (${soft[0]})` };
  if (!renderer.trim() && !gpuAdapter) return { ok: false, why: 'unknown renderer and no GPU adapter' };
  return { ok: true };
}
