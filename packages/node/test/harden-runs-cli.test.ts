/**
 * Two real `convlens train` processes on one run folder: exactly one writes it, the other exits 1
 * naming the folder and the owner's PID; --force and --resume are refused while a run trains; a
 * real Ctrl-C records "interrupted" in history.json and frees the folder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../src/train/run-lock.ts';
import { BIN, errorLines, runCli, writeQuadrantDataset } from './cli-helpers.ts';

let root: string;
let big: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'convlens-harden-cli-'));
  big = await writeQuadrantDataset(join(root, 'quad-big'), 2048, 64);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const trainArgs = (out: string, extra: string[] = []) => [
  'train',
  '--model',
  'cnn1',
  '--dataset',
  big,
  '--batch-size',
  '16',
  '--val-split',
  '0.25',
  '--out',
  out,
  ...extra,
];

interface Child {
  child: ChildProcess;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}
function start(args: string[]): Child {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, CONVLENS_DATA_DIR: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((res) =>
    child.on('close', (code) => res({ code, stdout, stderr })),
  );
  return { child, done };
}

async function waitFor(path: string, ms = 120_000) {
  const t0 = Date.now();
  while (!existsSync(path) && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 50));
  expect(existsSync(path), path).toBe(true);
}

describe('one writer per run folder', () => {
  it('two trains started together on one --out: one runs, the other exits 1 naming the folder and PID', async () => {
    const out = join(root, 'together');
    // Long runs (stopped by Ctrl-C below), so the loser meets a live lock however slow start-up is.
    const runs = [1, 7].map((seed) => ({
      seed,
      ...start(trainArgs(out, ['--epochs', '1000', '--seed', String(seed), '--json'])),
    }));
    const first = await Promise.race(runs.map((r) => r.done.then(() => r)));
    const loser = await first.done;
    const winner = runs.find((r) => r !== first)!;
    expect(loser.code).toBe(1);
    const lines = errorLines(loser.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0], loser.stderr).toContain(
      `${out} is in use by another convlens process (PID ${winner.child.pid} `,
    );
    await waitFor(join(out, 'checkpoints', 'last', 'state.json'));
    winner.child.kill('SIGINT');
    const win = await winner.done;
    expect(win.code).toBe(130);
    // Everything in the folder comes from the winner.
    const summary = JSON.parse(win.stdout);
    const config = JSON.parse(await readFile(join(out, 'run.json'), 'utf8'));
    const history = JSON.parse(await readFile(join(out, 'history.json'), 'utf8'));
    expect(config.seed).toBe(winner.seed);
    expect(history.records.at(-1).loss).toBe(summary.final.loss);
    expect(history.stopReason).toBe('interrupted');
    expect(
      Buffer.compare(
        await readFile(join(out, 'model', 'weights.bin')),
        await readFile(join(out, 'checkpoints', 'last', 'model', 'weights.bin')),
      ),
    ).toBe(0);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
  }, 180_000);

  it('--force and --resume are refused while a run trains; real Ctrl-C records "interrupted" and frees the folder', async () => {
    const out = join(root, 'busy');
    const a = start(trainArgs(out, ['--epochs', '1000']));
    await waitFor(join(out, LOCK_FILE));
    const [force, resume] = await Promise.all([
      runCli(trainArgs(out, ['--epochs', '1', '--force'])),
      runCli(trainArgs(out, ['--epochs', '3', '--resume'])),
    ]);
    for (const r of [force, resume]) {
      expect(r.code).toBe(1);
      expect(errorLines(r.stderr)).toEqual([
        expect.stringContaining(`${out} is in use by another convlens process (PID ${a.child.pid} `),
      ]);
    }
    await waitFor(join(out, 'checkpoints', 'last', 'state.json'));
    await new Promise((r) => setTimeout(r, 300));
    a.child.kill('SIGINT');
    const ra = await a.done;
    expect(ra.code).toBe(130);
    const history = JSON.parse(await readFile(join(out, 'history.json'), 'utf8'));
    expect(history.stopReason).toBe('interrupted');
    expect(history.interrupted.epoch).toBe(history.records.length + 1);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
    const r = await runCli(trainArgs(out, ['--epochs', String(history.records.length + 1), '--resume']));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(await readFile(join(out, 'history.json'), 'utf8')).stopReason).toBe('completed');
  }, 180_000);
});
