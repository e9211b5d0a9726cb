/** The real CLI end to end: train, evaluate, resume (also after kill -9), and every bad input. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, errorLines, runCli, writeQuadrantDataset } from './cli-helpers.ts';

let root: string;
let data: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'convlens-cli-'));
  data = await writeQuadrantDataset(join(root, 'quad'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const trainArgs = (out: string, extra: string[] = []) => [
  'train',
  '--model',
  'cnn1',
  '--dataset',
  data,
  '--batch-size',
  '32',
  '--val-split',
  '0.25',
  '--out',
  out,
  ...extra,
];

/** Files whose names mark them as temporaries of an atomic write. */
async function leftovers(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const found: string[] = [];
  for (const e of await readdir(dir, { recursive: true }))
    if (String(e).includes('.tmp-')) found.push(String(e));
  return found;
}

describe('convlens train / evaluate', () => {
  it('trains, writes the run directory, learns, and evaluates', async () => {
    const out = join(root, 'run1');
    const r = await runCli(trainArgs(out, ['--epochs', '2', '--json']));
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.epochs).toBe(2);
    expect(summary.split).toBe('standard');
    expect(summary.heldOut.set).toBe('test');
    expect(summary.heldOut.accuracy).toBeGreaterThan(0.8); // chance is 0.25
    const history = JSON.parse(await readFile(join(out, 'history.json'), 'utf8'));
    expect(history.records.map((x: any) => x.epoch)).toEqual([1, 2]);
    expect(history.records[1].loss).toBeLessThan(history.records[0].loss);
    for (const f of ['run.json', 'model/model.json', 'model/weights.bin', 'checkpoints/last/state.json']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    expect(await leftovers(out)).toEqual([]);
    expect(r.stderr).toMatch(/epoch 1\/2 .*img\/s/);

    const ev = await runCli(['evaluate', '--run', out, '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    const report = JSON.parse(ev.stdout);
    expect(report.count).toBe(128);
    expect(report.accuracy).toBeCloseTo(summary.heldOut.accuracy, 6);
    expect(report.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(128);
    expect(report.perClass).toHaveLength(4);
    expect(report.misclassified.length).toBe(Math.round((1 - report.accuracy) * 128));
  });

  it('--resume continues from the checkpoint to the requested epoch', async () => {
    const out = join(root, 'run2');
    expect((await runCli(trainArgs(out, ['--epochs', '1']))).code).toBe(0);
    const r = await runCli(trainArgs(out, ['--epochs', '3', '--resume']));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resume: from the checkpoint after epoch 1/);
    const history = JSON.parse(await readFile(join(out, 'history.json'), 'utf8'));
    expect(history.records.map((x: any) => x.epoch)).toEqual([1, 2, 3]);
  });

  it('resumes after kill -9 mid-epoch and reaches the same accuracy band', async () => {
    const out = join(root, 'run3');
    // Epochs long enough (2,048 images, batch 16) that a kill right after the first checkpoint lands
    // mid-epoch even on the native backend, which runs the small default set in a fraction of a second.
    const big = await writeQuadrantDataset(join(root, 'quad-kill'), 2048, 128);
    const args = [...trainArgs(out, ['--epochs', '4', '--batch-size', '16']), '--dataset', big];
    const child = spawn(process.execPath, [BIN, ...args], { stdio: 'ignore' });
    // Wait for the first checkpoint, then kill during a later epoch.
    const state = join(out, 'checkpoints', 'last', 'state.json');
    const t0 = Date.now();
    while (!existsSync(state) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const saved = JSON.parse(await readFile(state, 'utf8'));
    expect(saved.epoch).toBeGreaterThanOrEqual(1);
    expect(saved.epoch).toBeLessThan(4);
    const r = await runCli([...args, '--resume', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.epochs).toBe(4);
    expect(summary.heldOut.accuracy).toBeGreaterThan(0.8);
  });
});

describe('Ctrl-C', () => {
  it('stops after the current batch, keeps the last checkpoint, exits 130, and resumes', async () => {
    const big = await writeQuadrantDataset(join(root, 'quad-big'), 2048, 64);
    const out = join(root, 'run-sigint');
    const args = [
      'train',
      '--model',
      'cnn1',
      '--dataset',
      big,
      '--batch-size',
      '16',
      '--epochs',
      '3',
      '--out',
      out,
    ];
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const state = join(out, 'checkpoints', 'last', 'state.json');
    const t0 = Date.now();
    while (!existsSync(state) && Date.now() - t0 < 90_000) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted: the checkpoint after epoch 1 is in .*continue with --resume/);
    const history = JSON.parse(await readFile(join(out, 'history.json'), 'utf8'));
    expect(history.records.map((x: any) => x.epoch)).toEqual([1]);
    expect(await leftovers(out)).toEqual([]);
    const r = await runCli([...args, '--resume', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).epochs).toBe(3);
  });
});

describe('bad input: one line, exit ≠ 0, nothing half-written', () => {
  const cases: [string, string[], RegExp][] = [
    ['negative epochs', ['train', '--epochs', '-1', '--out', 'x'], /--epochs must be a positive integer/],
    [
      'non-numeric batch size',
      ['train', '--batch-size', 'abc', '--out', 'x'],
      /--batch-size must be a positive integer/,
    ],
    ['unknown model', ['train', '--model', 'resnet9000', '--out', 'x'], /unknown model 'resnet9000'/],
    ['unknown optimizer', ['train', '--optimizer', 'lion', '--out', 'x'], /unknown optimizer 'lion'/],
    ['unknown backend', ['train', '--backend', 'tpu', '--out', 'x'], /unknown backend 'tpu'/],
    [
      'unknown dataset',
      ['train', '--dataset', 'cifar1000', '--no-download', '--out', 'x'],
      /unknown dataset 'cifar1000'/,
    ],
  ];
  for (const [name, args, pattern] of cases) {
    it(name, async () => {
      const r = await runCli(args);
      expect(r.code).not.toBe(0);
      const lines = errorLines(r.stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(pattern);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace without --verbose
    });
  }

  it('missing IDX files name the folder and what is missing', async () => {
    const dir = join(root, 'empty-ds');
    await writeQuadrantDataset(dir, 8, 8);
    await rm(join(dir, 't10k-images-idx3-ubyte.gz'));
    const out = join(root, 'never');
    const r = await runCli(['train', '--dataset', dir, '--out', out]);
    expect(r.code).not.toBe(0);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(errorLines(r.stderr)[0]).toMatch(/t10k-images/);
    expect(existsSync(join(out, 'run.json'))).toBe(false);
  });

  it('a truncated IDX file is named with the problem', async () => {
    const dir = join(root, 'trunc-ds');
    await writeQuadrantDataset(dir, 8, 8);
    const { gunzipSync, gzipSync } = await import('node:zlib');
    const f = join(dir, 'train-images-idx3-ubyte.gz');
    const raw = gunzipSync(await readFile(f));
    await writeFile(f, gzipSync(raw.subarray(0, raw.length - 100)));
    const r = await runCli(['train', '--dataset', dir, '--out', join(root, 'never2')]);
    expect(r.code).not.toBe(0);
    expect(errorLines(r.stderr)[0]).toMatch(/train-images-idx3-ubyte\.gz.*truncated/);
  });

  it('an unwritable output directory is refused', async () => {
    const ro = join(root, 'readonly');
    await writeQuadrantDataset(join(root, 'ro-data'), 8, 8);
    await import('node:fs/promises').then((fs) => fs.mkdir(ro));
    await chmod(ro, 0o500);
    const asRoot = process.getuid?.() === 0;
    // root ignores permission bits: point --out below a regular file instead.
    const target = asRoot ? join(data, 't10k-labels-idx1-ubyte.gz', 'run') : join(ro, 'run');
    const r = await runCli(['train', '--dataset', join(root, 'ro-data'), '--out', target]);
    expect(r.code).not.toBe(0);
    expect(errorLines(r.stderr)[0]).toMatch(/--out .*cannot write/);
  });

  it('a corrupt checkpoint on --resume is reported, not trained over', async () => {
    const out = join(root, 'run-corrupt');
    expect((await runCli(trainArgs(out, ['--epochs', '1']))).code).toBe(0);
    const bin = join(out, 'checkpoints', 'last', 'optimizer.bin');
    await writeFile(bin, (await readFile(bin)).subarray(0, 100));
    const before = await readFile(join(out, 'history.json'), 'utf8');
    const r = await runCli(trainArgs(out, ['--epochs', '2', '--resume']));
    expect(r.code).not.toBe(0);
    expect(errorLines(r.stderr)[0]).toMatch(/optimizer\.bin: corrupt checkpoint/);
    expect(await readFile(join(out, 'history.json'), 'utf8')).toBe(before);
  });

  it('--resume without a run says so', async () => {
    const r = await runCli(trainArgs(join(root, 'nothing-here'), ['--resume']));
    expect(r.code).not.toBe(0);
    expect(errorLines(r.stderr)[0]).toMatch(/run\.json: cannot read run configuration \(file not found\)/);
  });

  it('an existing run is not overwritten without --force', async () => {
    const out = join(root, 'run-existing');
    expect((await runCli(trainArgs(out, ['--epochs', '1']))).code).toBe(0);
    const r = await runCli(trainArgs(out, ['--epochs', '1']));
    expect(r.code).not.toBe(0);
    expect(errorLines(r.stderr)[0]).toMatch(/already holds a run/);
  });

  it('--verbose adds the stack trace', async () => {
    const r = await runCli(['--verbose', 'train', '--dataset', 'nope', '--no-download', '--out', 'x']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/\n\s+at /);
  });
});
