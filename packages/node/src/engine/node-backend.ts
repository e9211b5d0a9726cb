/**
 * The CLI's compute start-up: `--backend native` (the default) is the wasm backend with oneDNN
 * kernels where they load. Where they do not (no libdnnl), the fallback is tfjs's threaded wasm on
 * every core rather than one thread (the default lab: ≈ 2× faster on 2 cores), said in one line.
 */
import os from 'node:os';
import { resolveNodeBackend } from './native.ts';
import { defaultThreads, enableWasmThreads } from './wasm-threads.ts';

const MAX_WASM_THREADS = 8;

export interface NodeBackendOptions {
  /** --threads, when given: wins over everything. */
  threads?: number;
  env?: NodeJS.ProcessEnv;
  /** Where the one-line notice goes (stderr by default). */
  warn?: (line: string) => void;
}

/**
 * Wasm threads for a run: --threads, else $CONVLENS_THREADS, else every core when native kernels
 * were asked for but are missing (wasm does all the work then), else 1 (native kernels run on
 * OpenMP threads of their own; a second pool would compete with them).
 */
export function wasmThreadsFor(
  nativeMissing: boolean,
  threads?: number,
  env: NodeJS.ProcessEnv = process.env,
): number {
  if (threads !== undefined) return threads;
  if (env.CONVLENS_THREADS !== undefined && env.CONVLENS_THREADS !== '') return defaultThreads(env);
  // tfjs's build pre-starts 8 pool workers and runs at most 8 threads: more cores are not used.
  return nativeMissing ? Math.min(MAX_WASM_THREADS, Math.max(1, os.availableParallelism())) : 1;
}

/**
 * Resolves `name` (native → wasm with native kernels, or plain wasm) and sets the wasm threads the
 * next initBackend('wasm') starts. Returns the core backend to initialize; `undefined` (a command
 * without a backend) only sets the threads.
 */
export function startNodeBackend<B extends string>(
  name: B | 'native' | undefined,
  options: NodeBackendOptions = {},
): B | 'wasm' | undefined {
  const warn = options.warn ?? ((l: string) => process.stderr.write(`${l}\n`));
  let notice: string | undefined;
  const backend =
    name === undefined
      ? undefined
      : resolveNodeBackend(name, {
          threads: options.threads,
          warn: (line) => {
            notice = line;
          },
        });
  const threads = wasmThreadsFor(notice !== undefined, options.threads, options.env);
  enableWasmThreads(threads);
  if (notice !== undefined)
    warn(threads > 1 ? `${notice} on ${threads} threads (CONVLENS_THREADS=1 for one)` : notice);
  return backend;
}
