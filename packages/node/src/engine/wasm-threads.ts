/**
 * Multi-threaded wasm in Node: XNNPACK's thread pool on every core (conv, matmul and friends split
 * their output tiles across threads; measured 1.65× on a 2-core machine for pw11's conv2).
 *
 * tfjs switches it off in Node (tfjs issue #3830) for three reasons, each handled here while the
 * module starts, and undone right after:
 * - its pthread worker and the main script are handed to emscripten as `blob:` URLs, which Node's
 *   Worker cannot load: the two Blobs are written to files (in a private temp dir) instead, the main
 *   script prefixed with the bundler's module bindings it refers to;
 * - the C++ side sizes its pool as min(requested, logical cores / 2) (it assumes hyper-threading):
 *   os.cpus() reports 2 × the requested threads during start-up, so the pool gets what was asked;
 * - the pool's idle workers would keep the process alive: they are unref'ed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { setWasmStartup, tf } from '@convlens/core/engine/backend';
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

const MAIN_SCRIPT = 'var WasmBackendModuleThreadedSimd';
// Free names of the threaded factory's source (bundled in tf-backend-wasm.node.js) that the worker
// must define before evaluating it.
const PRELUDE =
  "var require$$0=require('fs'),require$$1=require('path'),require$$3=require('perf_hooks')," +
  "require$$4=require('os');var commonjsGlobal=globalThis;\n";

/**
 * Threads asked for by CONVLENS_THREADS ('all' = every core), else 1. The CLI's own choice (every
 * core when native kernels are missing) is engine/node-backend.ts's. A threaded CLI run was once
 * seen to stall under heavy load in CI; not reproduced since (full and quick labs, 24 start-ups and
 * 900 dynamic imports between threaded kernels, at load 7–14 on 2 cores: all finished and exited).
 */
export function defaultThreads(env = process.env): number {
  const v = env.CONVLENS_THREADS;
  if (v === undefined || v === '') return 1;
  if (v === 'all') return os.cpus().length;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`CONVLENS_THREADS must be a positive integer or 'all', got '${v}'`);
  return n;
}

/**
 * Makes the next wasm start-up multi-threaded with `threads` threads (1: leave tfjs's
 * single-threaded default). Call before initBackend('wasm').
 */
export function enableWasmThreads(threads: number = defaultThreads()): void {
  if (threads <= 1) {
    setWasmStartup(null);
    return;
  }
  let restore: (() => void) | null = null;
  setWasmStartup({
    before() {
      const dir = mkdtempSync(join(os.tmpdir(), 'convlens-wasm-'));
      const RealBlob = globalThis.Blob;
      const realCreate = URL.createObjectURL;
      const realCpus = os.cpus;
      const files = new WeakMap<object, string>();
      let mainPath = join(dir, 'main.cjs');
      class FileBlob extends RealBlob {
        constructor(parts: BlobPart[] = [], options?: BlobPropertyBag) {
          super(parts, options);
          if (!parts.every((p) => typeof p === 'string')) return;
          const text = parts.join('');
          if (text.startsWith(MAIN_SCRIPT)) {
            mainPath = join(dir, 'main.cjs');
            writeFileSync(mainPath, PRELUDE + text);
            files.set(this, mainPath);
          } else if (text.includes('ENVIRONMENT_IS_NODE') && text.includes('importScripts')) {
            // The worker turns the main-script Blob it is sent into an object URL: point it at the file.
            const path = join(dir, 'worker.cjs');
            writeFileSync(path, `URL.createObjectURL=()=>${JSON.stringify(mainPath)};\n${text}`);
            files.set(this, path);
          }
        }
      }
      globalThis.Blob = FileBlob as typeof Blob;
      URL.createObjectURL = (b: Blob) => files.get(b) ?? realCreate(b);
      const cpu = realCpus()[0];
      (os as { cpus: typeof os.cpus }).cpus = () => Array.from({ length: 2 * threads }, () => cpu);
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
      setThreadsCount(threads);
      restore = () => {
        globalThis.Blob = RealBlob;
        URL.createObjectURL = realCreate;
        (os as { cpus: typeof os.cpus }).cpus = realCpus;
        // The pool may start more workers later: the files go when the process does.
        process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      };
    },
    after(ok: boolean) {
      restore?.();
      restore = null;
      if (!ok) return;
      const pthread = (tf.backend() as unknown as { wasm: { PThread?: PThreadPool } }).wasm.PThread;
      for (const w of [...(pthread?.unusedWorkers ?? []), ...(pthread?.runningWorkers ?? [])]) w.unref?.();
    },
  });
}

interface PThreadPool {
  unusedWorkers: { unref?(): void }[];
  runningWorkers: { unref?(): void }[];
}

/** Threads the wasm backend actually runs (1 when single-threaded or not started). */
export function wasmThreads(): number {
  try {
    return Math.max(1, getThreadsCount());
  } catch {
    return 1;
  }
}
