// The CLI's backend start-up without native kernels: threaded wasm on every core, said in one line,
// computing what single-threaded wasm computes. The wasm backend starts threaded or not once per
// process, so each configuration runs in a fresh one.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { wasmThreadsFor } from '../src/engine/node-backend.ts';

const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
const dir = mkdtempSync(join(os.tmpdir(), 'convlens-node-backend-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// pw11 on a fixed batch: logits, the input gradient of a logit sum, and the weight gradients of a loss.
const SCRIPT = `
  const { initBackend, tf } = await import(${url('../../core/src/engine/backend.ts')});
  const { buildModel } = await import(${url('../../core/src/models/build.ts')});
  const { logitsModel } = await import(${url('../../core/src/models/logits.ts')});
  const { startNodeBackend } = await import(${url('../src/engine/node-backend.ts')});
  const { wasmThreads } = await import(${url('../src/engine/wasm-threads.ts')});
  const lines = [];
  const backend = startNodeBackend('native', { warn: (l) => lines.push(l) });
  await initBackend(backend);
  let s = 11;
  const rand = (n) => Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0), s / 2 ** 32 - 0.5));
  const model = buildModel('pw11', { inputShape: [28, 28, 1], numClasses: 10, seed: 3 });
  const x = tf.tensor4d(rand(16 * 28 * 28), [16, 28, 28, 1]);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 10), 'int32'), 10);
  const net = logitsModel(model);
  const logits = tf.tidy(() => net.predict(x).dataSync());
  const dx = tf.tidy(() => tf.grad((v) => tf.sum(tf.mul(net.apply(v), tf.range(1, 11))))(x).dataSync());
  // Parameter gradients of the cross-entropy (inference mode: no dropout draws to differ).
  const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, net.apply(x)));
  const weights = Object.keys(grads).sort().map((k) => Array.from(grads[k].dataSync()));
  const moved = weights.reduce((m, g) => g.reduce((a, v) => Math.max(a, Math.abs(v)), m), 0);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(process.argv[2], JSON.stringify({ backend, threads: wasmThreads(), lines, moved, logits: Array.from(logits), dx: Array.from(dx), weights }));`;
// No process.exit: the script must end on its own (the pool's idle workers must not hold it open).

interface Result {
  backend: string;
  threads: number;
  lines: string[];
  logits: number[];
  dx: number[];
  weights: number[][];
  moved: number;
}

function run(env: Record<string, string>): Result {
  const file = join(dir, 'check.mjs');
  writeFileSync(file, SCRIPT);
  const out = join(dir, 'out.json');
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, out], {
    encoding: 'utf8',
    timeout: 90_000,
    env: { ...process.env, CONVLENS_NATIVE: '0', CONVLENS_THREADS: '', ...env },
  });
  expect(r.stderr.slice(0, 500)).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(readFileSync(out, 'utf8')) as Result;
}

/** Largest difference relative to the largest magnitude of `want`. */
function relErr(got: number[], want: number[]): number {
  expect(got.length).toBe(want.length);
  let scale = 0;
  let err = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    err = Math.max(err, Math.abs(got[i] - want[i]));
  }
  return err / Math.max(scale, 1e-12);
}

describe('backend start-up without native kernels', () => {
  it('takes --threads, then CONVLENS_THREADS, then every core (at most 8) when native is missing, else 1', () => {
    const cores = Math.min(os.availableParallelism(), 8);
    expect(wasmThreadsFor(true, 3, { CONVLENS_THREADS: '2' })).toBe(3);
    expect(wasmThreadsFor(true, undefined, { CONVLENS_THREADS: '1' })).toBe(1);
    expect(wasmThreadsFor(false, undefined, { CONVLENS_THREADS: 'all' })).toBe(os.cpus().length);
    expect(wasmThreadsFor(true, undefined, {})).toBe(cores);
    expect(wasmThreadsFor(true, undefined, { CONVLENS_THREADS: '' })).toBe(cores);
    expect(wasmThreadsFor(false, undefined, {})).toBe(1);
    expect(() => wasmThreadsFor(true, undefined, { CONVLENS_THREADS: 'x' })).toThrow(/CONVLENS_THREADS/);
  });

  it('runs threaded wasm on every core with a one-line notice, equal to single-threaded wasm', () => {
    const threaded = run({});
    const single = run({ CONVLENS_THREADS: '1' });
    const cores = Math.min(os.availableParallelism(), 8);
    expect(threaded.backend).toBe('wasm');
    expect(threaded.threads).toBe(cores);
    expect(threaded.lines).toEqual([
      cores > 1
        ? `convlens: native oneDNN kernels unavailable (disabled by CONVLENS_NATIVE=0): using wasm on ${cores} threads (CONVLENS_THREADS=1 for one)`
        : 'convlens: native oneDNN kernels unavailable (disabled by CONVLENS_NATIVE=0): using wasm',
    ]);
    expect(single.threads).toBe(1);
    expect(single.lines).toEqual([
      'convlens: native oneDNN kernels unavailable (disabled by CONVLENS_NATIVE=0): using wasm',
    ]);
    expect(relErr(threaded.logits, single.logits)).toBeLessThan(1e-5);
    expect(relErr(threaded.dx, single.dx)).toBeLessThan(1e-5);
    expect(threaded.weights.length).toBe(single.weights.length);
    for (let i = 0; i < single.weights.length; i++)
      expect(relErr(threaded.weights[i], single.weights[i])).toBeLessThan(1e-5);
    // Gradients that are not all zero: the comparison means something.
    expect(single.moved).toBeGreaterThan(1e-3);
  }, 120_000);
});
