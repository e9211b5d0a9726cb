/**
 * The explorer server's browser-facing defences, applied to every response:
 *
 * - Host check (DNS rebinding): a page on evil.example whose name is re-pointed at 127.0.0.1 reaches
 *   this server with `Host: evil.example`, so only the bound address, the loopback names and names the
 *   user allowed are answered (IP literals cannot be rebound; any other name is refused with 421).
 * - Content-Security-Policy and framing: scripts, styles, workers and connections from this origin
 *   only. The exceptions are what the app needs to run: 'wasm-unsafe-eval' to compile the tfjs wasm
 *   binaries, blob: workers/scripts for the threaded wasm build (Emscripten starts its pthreads from
 *   Blob URLs), data:/blob: images for canvases turned into pictures.
 * - Cross-origin isolation (COOP same-origin + COEP require-corp, CORP same-origin on every resource):
 *   makes `crossOriginIsolated` true, which the browser requires for SharedArrayBuffer and so for
 *   tfjs's multi-threaded wasm.
 */
import { isIP } from 'node:net';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval' blob:",
  "worker-src 'self' blob:",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];
const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** Splits a Host header into a lower-case name (IPv6 without brackets) and a port (null if absent). */
export function parseHost(header: string): { name: string; port: number | null } | null {
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/i.exec(header.trim());
  if (!m) return null;
  const name = (m[1] ?? m[2]).toLowerCase().replace(/\.$/, '');
  return { name, port: m[3] === undefined ? null : Number(m[3]) };
}

/**
 * A Host header check for a server bound to `bindHost`: accepts the bound address and the loopback
 * names, any IP literal when bound to all interfaces (0.0.0.0 / ::, reached by the machine's
 * addresses), and `extra` names; always with the listening port (port 80 may be left out).
 */
export function hostChecker(
  bindHost: string,
  extra: string[] = [],
): (host: string | undefined, port: number) => boolean {
  const names = new Set([...LOOPBACK_NAMES, ...extra].map((n) => parseHost(n)?.name ?? n.toLowerCase()));
  const bound = parseHost(bindHost.includes(':') && !bindHost.startsWith('[') ? `[${bindHost}]` : bindHost);
  const anyAddress = WILDCARDS.has(bindHost);
  if (bound && !anyAddress) names.add(bound.name);
  return (host, port) => {
    const h = host ? parseHost(host) : null;
    if (!h) return false;
    if ((h.port ?? 80) !== port) return false;
    return names.has(h.name) || (anyAddress && isIP(h.name) !== 0);
  };
}
