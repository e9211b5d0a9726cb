/**
 * Training runs under faults, in process: stale and foreign locks, a crash between the checkpoint
 * swap's renames (states built on disk), non-finite losses, dataset errors and stops leaving nothing
 * half-made. Two real processes on one folder: harden-runs-cli.test.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { buildModel } from '@convlens/core/models/build';
import type { EpochRecord } from '@convlens/core/train/history';
import { makeOptimizer } from '@convlens/core/train/optimizers';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { type TrainCliOptions, trainCommand } from '../src/tasks/train.ts';
import { saveCheckpoint } from '../src/train/checkpoint.ts';
import { recoverCheckpoint } from '../src/train/checkpoint-recovery.ts';
import { LOCK_FILE, lockRunDir, RunLocked } from '../src/train/run-lock.ts';
import { writeQuadrantDataset } from './cli-helpers.ts';

let root: string;
let data: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'convlens-harden-'));
  data = await writeQuadrantDataset(join(root, 'quad'));
  await initBackend('wasm');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A PID that certainly ran on this host and has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

const quiet = () => {};
const inProcess = (out: string, extra: Partial<TrainCliOptions> = {}): TrainCliOptions => ({
  model: 'cnn1',
  dataset: data,
  download: false,
  epochs: 1,
  batchSize: 32,
  optimizer: 'adam',
  valSplit: 0.25,
  seed: 1,
  out,
  backend: 'wasm',
  ...extra,
});

describe('run folder lock', () => {
  it('takes over the lock of a dead process with a notice, refuses live and foreign owners', async () => {
    const dir = join(root, 'locks');
    await mkdir(dir, { recursive: true });
    const lockPath = join(dir, LOCK_FILE);
    const pid = deadPid();
    const startedAt = new Date(Date.now() - 60_000).toISOString();
    await writeFile(lockPath, JSON.stringify({ pid, host: hostname(), startedAt, token: 'old' }));
    const notices: string[] = [];
    const lock = await lockRunDir(dir, (s) => notices.push(s));
    expect(notices).toEqual([expect.stringContaining(`taking over the lock of PID ${pid}`)]);
    expect(JSON.parse(await readFile(lockPath, 'utf8')).pid).toBe(process.pid);
    // Held by this very process: a second writer here is refused too.
    await expect(lockRunDir(dir)).rejects.toThrow(`PID ${process.pid}`);
    await lock.release();
    expect(existsSync(lockPath)).toBe(false);

    // A live owner (a child started now) and one on another host are never taken over.
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    onTestFinished(() => {
      live.kill();
    });
    await new Promise((r) => live.once('spawn', r));
    const now = new Date().toISOString();
    await writeFile(
      lockPath,
      JSON.stringify({ pid: live.pid, host: hostname(), startedAt: now, token: 'p' }),
    );
    const refused = await lockRunDir(dir).catch((e) => e);
    expect(refused).toBeInstanceOf(RunLocked);
    expect(refused.message).toContain(`${dir} is in use by another convlens process (PID ${live.pid} `);
    // A live PID that started after the lock was written is a reused PID: the owner is gone.
    await writeFile(lockPath, JSON.stringify({ pid: live.pid, host: hostname(), startedAt, token: 'r' }));
    await (await lockRunDir(dir)).release();
    await writeFile(lockPath, JSON.stringify({ pid, host: 'elsewhere.example', startedAt, token: 'h' }));
    await expect(lockRunDir(dir)).rejects.toThrow(`PID ${pid} on elsewhere.example`);
    await rm(lockPath);
  });
});

describe('checkpoint swap: a crash between the renames is recoverable', () => {
  const record = (epoch: number) => ({ epoch, loss: 1 / epoch }) as unknown as EpochRecord;
  /** A complete checkpoint of `epoch` written at `path`. */
  async function copyAt(path: string, epoch: number) {
    const model = buildModel('cnn1', { inputShape: [16, 16, 1], numClasses: 4, seed: epoch });
    const opt = makeOptimizer({ name: 'adam', learningRate: 0.001 } as any);
    await saveCheckpoint(
      path,
      model,
      opt,
      Array.from({ length: epoch }, (_, i) => record(i + 1)),
    );
    model.dispose();
    opt.dispose();
  }
  const epochOf = async (dir: string) => JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')).epoch;
  const temps = async (dir: string) => (await readdir(dir)).filter((e) => e.includes('.tmp-')).sort();

  it('finds the newest complete copy under temp names and removes orphans of dead processes', async () => {
    const before = tf.memory().numTensors;
    const dir = join(root, 'ckpt', 'checkpoints');
    const last = join(dir, 'last');
    const scratch = join(root, 'ckpt-scratch');
    for (const e of [1, 2]) await copyAt(join(scratch, `e${e}`), e);
    const put = (e: number, name: string) => cp(join(scratch, `e${e}`), join(dir, name), { recursive: true });
    const dead = deadPid();

    // The new swap, stopped after last → last.prev: the newer copy still has its temp name.
    await put(1, 'last.prev');
    await put(2, `.last.tmp-${dead}-ab12cd34`);
    expect(await recoverCheckpoint(last)).toBe(2);
    expect(await epochOf(last)).toBe(2);
    expect(await temps(dir)).toEqual([]);
    expect(await epochOf(join(dir, 'last.prev'))).toBe(1);

    // The audit's state (older writeDirAtomic swap): both complete copies under temp names.
    await rm(dir, { recursive: true });
    await put(2, `.last.tmp-${dead}-0011aabb`);
    await put(1, `.last.tmp-${dead}-0011aabb-old`);
    const notices: string[] = [];
    expect(await recoverCheckpoint(last, (s) => notices.push(s))).toBe(2);
    expect(notices[0]).toMatch(/missing .*recovered the copy after epoch 2 from \.last\.tmp-/);
    expect(await temps(dir)).toEqual([]);

    // A half-written newer copy (no state file) beside a complete last: last stays, the orphan goes.
    await put(1, `.last.tmp-${dead}-half`);
    await rm(join(dir, `.last.tmp-${dead}-half`, 'state.json'));
    expect(await recoverCheckpoint(last)).toBe(2);
    expect(await temps(dir)).toEqual([]);

    // A newer copy with a truncated optimizer file is not complete: the older one wins.
    await rm(dir, { recursive: true });
    await put(1, 'last.prev');
    await put(2, `.last.tmp-${dead}-trunc`);
    await truncate(join(dir, `.last.tmp-${dead}-trunc`, 'optimizer.bin'), 1);
    expect(await recoverCheckpoint(last)).toBe(1);

    // A live process's temp copy is left alone; no copy at all gives undefined.
    await put(2, `.last.tmp-${process.ppid}-live`);
    expect(await recoverCheckpoint(last)).toBe(1);
    expect(await temps(dir)).toEqual([`.last.tmp-${process.ppid}-live`]);
    await rm(dir, { recursive: true });
    expect(await recoverCheckpoint(last)).toBeUndefined();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('--resume continues from a run whose last checkpoint sits under a temp name', async () => {
    const out = join(root, 'swap-run');
    await trainCommand(inProcess(out, { epochs: 2 }), quiet);
    const dir = join(out, 'checkpoints');
    expect(await epochOf(join(dir, 'last.prev'))).toBe(1);
    await rename(join(dir, 'last'), join(dir, `.last.tmp-${deadPid()}-e2e0`));
    const notices: string[] = [];
    const summary = await trainCommand(inProcess(out, { epochs: 3, resume: true }), (s) => notices.push(s));
    expect(notices.join('\n')).toMatch(/recovered the copy after epoch 2/);
    expect(notices.join('\n')).toMatch(/resume: from the checkpoint after epoch 2/);
    expect(summary.epochs).toBe(3);
    expect(await temps(dir)).toEqual([]);
  });
});

describe('no half-made runs', () => {
  it('a non-finite loss stops with one line naming epoch and batch, and leaves nothing', async () => {
    const top = join(root, 'nan');
    const out = join(top, 'deep', 'run');
    const err = await trainCommand(inProcess(out, { epochs: 2, lr: 1e308 }), quiet).catch((e) => e);
    expect(err.message).toMatch(/^epoch 1, batch \d+: loss is (NaN|-?Infinity) .*nothing was saved$/);
    expect(err.message).not.toContain('\n');
    expect(existsSync(top)).toBe(false);
    // Nothing blocks a plain re-run.
    await trainCommand(inProcess(out), quiet);
    expect(existsSync(join(out, 'checkpoints', 'last', 'state.json'))).toBe(true);
  });

  it('a dataset error leaves no --out behind; an existing folder keeps only its own files', async () => {
    const empty = join(root, 'empty-ds');
    await mkdir(empty, { recursive: true });
    const top = join(root, 'bad-ds');
    await expect(trainCommand(inProcess(join(top, 'run'), { dataset: empty }), quiet)).rejects.toThrow();
    expect(existsSync(top)).toBe(false);
    const mine = join(root, 'bad-ds-existing');
    await mkdir(mine);
    await writeFile(join(mine, 'notes.txt'), 'mine');
    await expect(trainCommand(inProcess(mine, { dataset: empty }), quiet)).rejects.toThrow();
    expect(await readdir(mine)).toEqual(['notes.txt']);
  });

  it('a folder with only run.json (killed in epoch 1) does not block a re-run, and --resume says why it cannot', async () => {
    const done = join(root, 'finished');
    await trainCommand(inProcess(done), quiet);
    const out = join(root, 'only-config');
    await mkdir(out);
    await cp(join(done, 'run.json'), join(out, 'run.json'));
    await expect(trainCommand(inProcess(out, { resume: true }), quiet)).rejects.toThrow(
      /no checkpoint to resume from .*without --resume/,
    );
    const notices: string[] = [];
    const summary = await trainCommand(inProcess(out), (s) => notices.push(s));
    expect(summary.stopReason).toBe('completed');
    expect(notices.join('\n')).toMatch(/stopped before its first epoch ended .*starting afresh/);
  });

  it('a stop in the first epoch leaves nothing; a stop later records "interrupted" with the real epoch', async () => {
    const top = join(root, 'stop-early');
    let batches = 0;
    const early = await trainCommand(inProcess(join(top, 'run')), quiet, { shouldStop: () => ++batches > 3 });
    expect(early.stopReason).toBe('interrupted');
    expect(existsSync(top)).toBe(false);

    const out = join(root, 'stop-later');
    let calls = 0;
    // 384 training images in batches of 32: 12 batches an epoch; stop 5 batches into epoch 2.
    const later = await trainCommand(inProcess(out, { epochs: 3 }), quiet, {
      shouldStop: () => ++calls > 18,
    });
    expect(later.stopReason).toBe('interrupted');
    const history = JSON.parse(await readFile(join(out, 'history.json'), 'utf8'));
    expect(history.stopReason).toBe('interrupted');
    expect(history.records.map((x: EpochRecord) => x.epoch)).toEqual([1]);
    expect(history.interrupted.epoch).toBe(2);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
  });
});
