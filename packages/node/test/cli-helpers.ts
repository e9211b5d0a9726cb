/** Runs the real CLI in a child process, and writes small learnable IDX datasets for it. */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx } from '@convlens/core/data/idx';

export const BIN = resolve(import.meta.dirname, '../bin/convlens.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, CONVLENS_DATA_DIR: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code, signal) => res({ code, signal, stdout, stderr }));
  });
}

/** Error lines the CLI printed (progress output aside). */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /^(convlens: |error: )/.test(l));
}

/** Seeded noise in [0, 1). */
function noise(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/**
 * A 4-class 16×16 dataset: class k has its k-th quadrant bright, plus noise everywhere.
 * Small CNNs learn it in an epoch or two, so CLI tests can check that learning happens.
 */
export function quadrantImages(n: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  const r = noise(seed);
  const images = new Uint8Array(n * 256);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % 4;
    labels[i] = k;
    const qy = k >> 1;
    const qx = k & 1;
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 16; x++) {
        const bright = y >> 3 === qy && x >> 3 === qx;
        images[i * 256 + y * 16 + x] = Math.min(255, Math.floor((bright ? 150 : 0) + r() * 100));
      }
    }
  }
  return { images, labels };
}

export async function writeQuadrantDataset(dir: string, train = 512, test = 128): Promise<string> {
  await mkdir(dir, { recursive: true });
  const put = (name: string, data: Uint8Array, dims: number[]) =>
    writeFile(join(dir, `${name}.gz`), gzipSync(encodeIdx(data, dims)));
  const tr = quadrantImages(train, 1);
  const te = quadrantImages(test, 2);
  await put('train-images-idx3-ubyte', tr.images, [train, 16, 16]);
  await put('train-labels-idx1-ubyte', tr.labels, [train]);
  await put('t10k-images-idx3-ubyte', te.images, [test, 16, 16]);
  await put('t10k-labels-idx1-ubyte', te.labels, [test]);
  return dir;
}

export interface QuadrantRunOptions {
  train?: number;
  test?: number;
  epochs?: number;
  valSplit?: number;
}

/**
 * A quadrant dataset under `root`/quad and a cnn1 run trained on it by the real CLI under `root`/run
 * (the fixture most CLI tests start from). Throws with the CLI's stderr when training fails.
 */
export async function trainQuadrantRun(
  root: string,
  o: QuadrantRunOptions = {},
): Promise<{ data: string; run: string }> {
  const data = await writeQuadrantDataset(join(root, 'quad'), o.train ?? 256, o.test ?? 64);
  const run = join(root, 'run');
  const r = await runCli([
    'train',
    '--model',
    'cnn1',
    '--dataset',
    data,
    '--epochs',
    String(o.epochs ?? 1),
    '--batch-size',
    '32',
    ...(o.valSplit === undefined ? [] : ['--val-split', String(o.valSplit)]),
    '--out',
    run,
  ]);
  if (r.code !== 0) throw new Error(`training the fixture run failed: ${r.stderr}`);
  return { data, run };
}
