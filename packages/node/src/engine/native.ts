/**
 * Native CPU kernels for Node: oneDNN (libdnnl, OpenMP threads) convolutions and matmuls, registered
 * as wasm-backend kernels that work in place on the wasm heap. The addon
 * (packages/node/native/convlens_dnnl.cc) is built on first use with one g++ command into a cache
 * keyed by its source; anything missing (compiler, library, headers) leaves pure wasm with a reason.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NATIVE_KERNELS } from './native-kernels.ts';

/** The addon's functions (see convlens_dnnl.cc); each returns the oneDNN implementation it ran. */
export interface NativeAddon {
  conv2d(
    x: Float32Array,
    w: Float32Array,
    bias: Float32Array | null,
    y: Float32Array,
    geom: Int32Array,
  ): string;
  /** Depthwise conv: geometry as conv2d's with CO = CI·multiplier, filter [KH, KW, CI, multiplier]. */
  depthwise2d(
    x: Float32Array,
    w: Float32Array,
    bias: Float32Array | null,
    y: Float32Array,
    geom: Int32Array,
  ): string;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, geom: Int32Array): string;
  conv2dBackpropInput(dy: Float32Array, w: Float32Array, dx: Float32Array, geom: Int32Array): string;
  /** Depthwise backprops: conv geometry with CO = CI·multiplier, filter [KH, KW, CI, multiplier]. */
  depthwiseBackpropInput(dy: Float32Array, w: Float32Array, dx: Float32Array, geom: Int32Array): string;
  depthwiseBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, geom: Int32Array): string;
  matmul(
    a: Float32Array,
    b: Float32Array,
    bias: Float32Array | null,
    c: Float32Array,
    geom: Int32Array,
  ): string;
  /** Sums X[outer, inner] over its rows (axis 0) or columns (axis 1): geom = outer, inner, axis. */
  sum(x: Float32Array, y: Float32Array, geom: Int32Array): string;
  maxPool(x: Float32Array, y: Float32Array, geom: Int32Array): string;
  /** y[i, c] = x[i, c]·scale[c] + shift[c] for X[outer, C]: geom = outer, C. */
  channelAffine(
    x: Float32Array,
    scale: Float32Array,
    shift: Float32Array,
    y: Float32Array,
    geom: Int32Array,
  ): string;
  maxPoolGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, geom: Int32Array): string;
  /** out[i] = x[i] OP s as 0/1 bytes: geom = n, op (0 >, 1 >=, 2 <, 3 <=). */
  compareScalar(x: Float32Array, s: number, out: Uint8Array, geom: Int32Array): string;
  /** dx[i] = dy[i] where 0 < y[i] < cap, else 0: the gradient of a relu/relu6 post-op from its output. */
  activationGrad(dy: Float32Array, y: Float32Array, dx: Float32Array, cap: number): string;
  /** Whether loading the addon kept freed buffers up to 32 MB in the process (glibc's mallopt). */
  mallocTuned(): boolean;
  /** The most OpenMP threads one op runs on (small ops run on one). */
  threads(): number;
  setThreads(n: number): number;
}

export interface NativeStatus {
  ok: boolean;
  /** Why the addon is unavailable (when !ok). */
  reason?: string;
  /** The built addon (when ok). */
  path?: string;
}

const SOURCE = fileURLToPath(new URL('../../native/convlens_dnnl.cc', import.meta.url));
const FLAGS = ['-O2', '-shared', '-fPIC', '-std=c++17', '-fopenmp'];

let addon: NativeAddon | null = null;
let status: NativeStatus | null = null;

/** Folder for built addons: $CONVLENS_NATIVE_CACHE, else the workspace's node_modules/.cache, else ~/.cache. */
export function nativeCacheDir(env = process.env): string {
  if (env.CONVLENS_NATIVE_CACHE) return env.CONVLENS_NATIVE_CACHE;
  let dir = dirname(SOURCE);
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules', '.cache', 'convlens-native');
    dir = dirname(dir);
  }
  return join(env.XDG_CACHE_HOME || join(os.homedir(), '.cache'), 'convlens', 'native');
}

/** Where node_api.h lives: beside the running node (official builds), else the system's. */
function nodeIncludeDir(): string | null {
  const candidates = [
    join(dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ];
  return candidates.find((d) => existsSync(join(d, 'node_api.h'))) ?? null;
}

/** The first line of a compiler error that says what is missing, mapped to a short reason. */
function buildFailure(stderr: string): string {
  if (/dnnl\.hpp: No such file|cannot find -ldnnl/.test(stderr))
    return 'libdnnl not found: apt-get install libdnnl-dev';
  const line = stderr.split('\n').find((l) => /error/.test(l)) ?? stderr.split('\n')[0] ?? '';
  return `build failed: ${line.trim().slice(0, 200)}`;
}

/**
 * Builds the addon unless a build of this exact source is cached (`rebuild`: even then); returns its
 * path and whether it came from the cache, or throws a reason.
 */
function build(rebuild = false): { path: string; cached: boolean } {
  const cxx = process.env.CXX || 'g++';
  const source = readFileSync(SOURCE);
  const hash = createHash('sha256')
    .update(source)
    .update(FLAGS.join(' '))
    .update(`${process.platform}-${process.arch}-napi${process.versions.napi}`)
    .digest('hex')
    .slice(0, 16);
  const dir = nativeCacheDir();
  const out = join(dir, `convlens_dnnl-${hash}.node`);
  if (existsSync(out) && !rebuild) return { path: out, cached: true };
  if (spawnSync(cxx, ['--version'], { stdio: 'ignore' }).error) throw new Error(`${cxx} not found`);
  const include = nodeIncludeDir();
  if (!include) throw new Error('Node headers (node_api.h) not found');
  mkdirSync(dir, { recursive: true });
  // Build beside the target and rename: concurrent processes never load a half-written file.
  const tmp = `${out}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    execFileSync(cxx, [...FLAGS, `-I${include}`, SOURCE, '-ldnnl', '-o', tmp], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    renameSync(tmp, out);
  } catch (e: any) {
    rmSync(tmp, { force: true });
    throw new Error(e.stderr ? buildFailure(String(e.stderr)) : String(e.message ?? e));
  }
  // Builds of older sources are dead weight (a process still using one keeps its mapping).
  for (const f of readdirSync(dir)) {
    if (/^convlens_dnnl-[0-9a-f]{16}\.node$/.test(f) && join(dir, f) !== out)
      rmSync(join(dir, f), { force: true });
  }
  return { path: out, cached: false };
}

function requireAddon(path: string): NativeAddon {
  // OpenMP threads that spin between ops steal the core JS (and, on a shared machine, everyone
  // else) needs: measured 2× slower under load. Sleeping at once costs microseconds per op.
  // libgomp reads this when it loads, with the addon; the process's own env is left as it was.
  const policy = process.env.OMP_WAIT_POLICY;
  if (policy === undefined) process.env.OMP_WAIT_POLICY = 'passive';
  try {
    return createRequire(import.meta.url)(path) as NativeAddon;
  } finally {
    if (policy === undefined) delete process.env.OMP_WAIT_POLICY;
  }
}

/** Builds (once) and loads the addon. Never throws: failures come back as a reason. */
export function loadNative(): NativeStatus {
  if (status) return status;
  if (process.env.CONVLENS_NATIVE === '0') {
    status = { ok: false, reason: 'disabled by CONVLENS_NATIVE=0' };
    return status;
  }
  try {
    const first = build();
    let path = first.path;
    try {
      addon = requireAddon(path);
    } catch (e) {
      // A cached build can outlive the library it linked (an upgraded libdnnl): build afresh once.
      if (!first.cached) throw e;
      path = build(true).path;
      addon = requireAddon(path);
    }
    status = { ok: true, path };
  } catch (e: any) {
    const msg = String(e?.message ?? e);
    status = {
      ok: false,
      reason: /libdnnl\.so/.test(msg) ? 'libdnnl not found: apt-get install libdnnl-dev' : msg.split('\n')[0],
    };
  }
  return status;
}

/** The loaded addon (after a successful loadNative()). */
export function nativeAddon(): NativeAddon {
  if (!addon) throw new Error('native oneDNN kernels are not loaded');
  return addon;
}

/** The one-line notice for an unavailable addon. */
export function nativeNotice(s: NativeStatus): string {
  return `convlens: native oneDNN kernels unavailable (${s.reason}): using wasm`;
}

let registered = false;

/**
 * Threads for native ops: `threads` when given (the CLI's --threads), else $CONVLENS_THREADS when
 * set, else every core (oneDNN's own default). Unlike threaded wasm, OpenMP has no start-up hazard.
 */
function nativeThreads(threads?: number, env = process.env): number | undefined {
  if (threads !== undefined) return threads;
  const v = env.CONVLENS_THREADS;
  if (v === undefined || v === '' || v === 'all') return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}

/**
 * Loads the addon and registers its kernels over the wasm backend's (convlens's wasm kernels first,
 * so the native ones can fall back to them). Returns the load status; registers nothing on failure.
 */
export function registerNativeKernels(options: { threads?: number } = {}): NativeStatus {
  const s = loadNative();
  if (!s.ok) return s;
  const threads = nativeThreads(options.threads);
  if (threads !== undefined) nativeAddon().setThreads(threads);
  if (!registered) {
    registered = true;
    NATIVE_KERNELS.register(nativeAddon());
  }
  return s;
}

/** Restores the wasm kernels the native ones replaced (tests compare both in one process). */
export function unregisterNativeKernels(): void {
  if (!registered) return;
  registered = false;
  NATIVE_KERNELS.unregister();
}

export function nativeKernelsRegistered(): boolean {
  return registered;
}

/**
 * What the CLI's `--backend native` means: the wasm backend with native kernels when they load,
 * else plain wasm after a one-line notice on stderr. Returns the core backend to initialize.
 */
export function resolveNodeBackend<B extends string>(
  name: B | 'native',
  options: { threads?: number; warn?: (line: string) => void } = {},
): B | 'wasm' {
  if (name !== 'native') return name;
  const s = registerNativeKernels({ threads: options.threads });
  if (!s.ok) (options.warn ?? ((l) => process.stderr.write(`${l}\n`)))(nativeNotice(s));
  return 'wasm';
}

/** How often each kernel ran natively rather than through its wasm fallback. */
export function nativeCalls(): Record<string, number> {
  return Object.fromEntries(NATIVE_KERNELS.calls);
}
