/**
 * `convlens lab` bad input (one line, exit ≠ 0, nothing written) and Ctrl-C: exit 130 mid-training,
 * finished stages kept, and the next run resumes from them.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, errorLines, runCli } from './cli-helpers.ts';

const DATA = process.env.CONVLENS_DATA_DIR ?? '';
const HAVE_MNIST = DATA !== '' && existsSync(join(DATA, 'mnist'));

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'convlens-lab-cli-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('convlens lab: bad input gets one line and exit 1', () => {
  it('rejects an --out that is a file', async () => {
    const file = join(tmp, 'a-file');
    await writeFile(file, 'x');
    const r = await runCli(['lab', '--quick', '--out', file]);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([`convlens: --out ${file}: exists and is not a directory`]);
  });

  it('rejects an --out that cannot be created', async () => {
    const out = join(tmp, 'a-file', 'report');
    const r = await runCli(['lab', '--quick', '--out', out]);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([
      `convlens: --out ${out}: cannot write there (a file is in the way)`,
    ]);
  });

  it('refuses a non-empty folder that is not a lab report', async () => {
    const out = join(tmp, 'mine');
    await mkdir(out);
    await writeFile(join(out, 'thesis.tex'), 'precious');
    const r = await runCli(['lab', '--quick', '--out', out]);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)[0]).toMatch(/not a convlens lab report/);
    expect(await readdir(out)).toEqual(['thesis.tex']);
  });

  it('rejects an unknown model', async () => {
    const r = await runCli(['lab', '--model', 'resnet9000', '--out', join(tmp, 'm')]);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)[0]).toMatch(/unknown model 'resnet9000'/);
    expect(existsSync(join(tmp, 'm'))).toBe(false);
  });

  it('rejects an unknown dataset name', async () => {
    const r = await runCli(['lab', '--dataset', 'cifar1000', '--no-download', '--out', join(tmp, 'd')]);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(errorLines(r.stderr)[0]).toMatch(/cifar1000/);
  });

  it('says where it looked when the dataset is missing', async () => {
    const home = join(tmp, 'home');
    await mkdir(home, { recursive: true });
    const r = await runCli(['lab', '--quick', '--no-download', '--out', join(tmp, 'missing')], {
      HOME: home,
      XDG_CACHE_HOME: '',
    });
    expect(r.code).toBe(1);
    const lines = errorLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/mnist/);
    expect(lines[0]).toMatch(/not found|looked|no .*files/i);
  });
});

describe.skipIf(!HAVE_MNIST)('convlens lab: Ctrl-C mid-training, then resume', () => {
  it('exits 130 keeping the finished stages, and the next run continues from them', async () => {
    const out = join(tmp, 'interrupted');
    const args = ['lab', '--quick', '--epochs', '1', '--out', out];
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, CONVLENS_DATA_DIR: DATA },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const t0 = Date.now();
    while (!/epoch 1\/1 \[/.test(stderr) && Date.now() - t0 < 90_000)
      await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('close', r));
    expect(code, stderr.slice(-1500)).toBe(130);
    expect(stderr).toMatch(/run the same command to resume/);
    const manifest = JSON.parse(await readFile(join(out, 'lab.json'), 'utf8'));
    expect(Object.keys(manifest.stages)).toEqual(['data']);
    // The partial report is readable and says what is missing.
    expect(await readFile(join(out, 'index.html'), 'utf8')).toMatch(/Not computed yet/);

    const r = await runCli([...args, '--json'], { CONVLENS_DATA_DIR: DATA });
    expect(r.code, r.stderr.slice(-1500)).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.stages.map((x: any) => [x.id, x.cached])).toEqual([
      ['data', true],
      ['train', false],
      ['test', false],
      ['part1', false],
      ['part2', false],
      ['part3', false],
      ['methods', false],
      ['featuremap', false],
      ['transfer', false],
    ]);
    expect(s.accuracy).toBeGreaterThan(0.3);
  }, 200_000);
});
