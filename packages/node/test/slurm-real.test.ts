// convlens slurm on a real Slurm: test/slurm/single-node.sh starts munged, slurmctld and slurmd as root
// with this host as the one node; `convlens slurm stats --shards 4 --submit` runs a 2,000-image folder
// as a 4-task array plus its merge, and the merged statistics equal a one-pass run. Then the same
// submission again: the three finished shards are skipped, the fourth (its partial removed) is
// cancelled mid-run with scancel, requeued, and the merge gives the same result. Every daemon is
// stopped at the end, also on failure. Skipped with a notice where Slurm or munge is not installed,
// where this is not root, or where slurmd does not come up.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initBackend } from '@convlens/core/engine/backend';
import { classMeanMatrix } from '@convlens/core/stats/class-means';
import { type DatasetStats, statsFromJSON } from '@convlens/core/stats/dataset-stats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-helpers.ts';
import { writeQuadrantFolder, writeTinyModel } from './shard-fixture.ts';

const CLUSTER = resolve(import.meta.dirname, 'slurm/single-node.sh');
const IMAGES = 2000;
const SHARDS = 4;

let root = '';
let started = false;
let skipReason = '';
let env: Record<string, string> = {};
let jobFlags: string[] = [];
const t0 = Date.now();
const stamp = (what: string) =>
  console.log(`slurm-real: ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);

function whyNotRunnable(): string {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root (slurmd runs the jobs)';
  for (const b of ['/usr/sbin/munged', '/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/bin/sbatch'])
    if (!existsSync(b)) return `${b} is missing (apt-get install slurm-wlm munge)`;
  return '';
}

function slurm(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
}

function jobState(id: string): string {
  try {
    return /JobState=(\S+)/.exec(slurm('scontrol', ['show', 'job', '-o', id]))?.[1] ?? 'UNKNOWN';
  } catch {
    return 'UNKNOWN';
  }
}

/** Polls until `id` is in one of `states` (bounded); fails naming the state it was left in. */
async function waitFor(id: string, states: string[], seconds: number): Promise<void> {
  const end = Date.now() + seconds * 1000;
  let s = '';
  while (Date.now() < end) {
    s = jobState(id);
    if (states.includes(s)) return;
    if (['FAILED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY'].includes(s)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const logs = join(root, 'merged.slurm/logs');
  const tail = existsSync(logs)
    ? (await Promise.all((await readdir(logs)).map((f) => readFile(join(logs, f), 'utf8'))))
        .join('\n')
        .slice(-3000)
    : '';
  throw new Error(`job ${id} is ${s}, not ${states.join('/')} after ${seconds} s\n${tail}`);
}

const readStats = async (dir: string): Promise<DatasetStats> =>
  statsFromJSON(JSON.parse(await readFile(join(dir, 'partial.json'), 'utf8')));

/** Counts, mode maps and top-k exactly; class means (float64 sums in another order) to rounding. */
function expectSameStats(a: DatasetStats, b: DatasetStats) {
  expect(b.count).toBe(a.count);
  expect(b.layers.length).toBe(a.layers.length);
  a.layers.forEach((l, i) => {
    const k = b.layers[i];
    expect(k.means.counts).toEqual(l.means.counts);
    const p = classMeanMatrix(l.means);
    const q = classMeanMatrix(k.means);
    for (let j = 0; j < p.length; j++)
      expect(Math.abs(p[j] - q[j])).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(p[j])));
    if (l.modes) expect(Array.from(k.modes!.counts)).toEqual(Array.from(l.modes.counts));
    const top = (s: typeof l) => s.topk.entries.map((e) => e.map((v) => [v.image, v.label, v.value, v.box]));
    expect(top(k)).toEqual(top(l));
  });
}

async function submit(): Promise<{ arrayJob: string; mergeJob: string }> {
  const r = await runCli(
    [
      'slurm',
      'stats',
      ...jobFlags,
      '--shards',
      String(SHARDS),
      '--out',
      join(root, 'merged'),
      '--submit',
      '--json',
    ],
    env,
  );
  if (r.code !== 0) throw new Error(`convlens slurm failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

beforeAll(async () => {
  skipReason = whyNotRunnable();
  if (skipReason) return;
  root = await mkdtemp(join(tmpdir(), 'convlens-slurm-'));
  const up = spawnSync('bash', [CLUSTER, 'start', join(root, 'cluster')], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  started = true; // whatever came up is stopped in afterAll
  if (up.status !== 0) {
    skipReason = `slurm did not start: ${(up.stderr || up.error?.message || '').trim().split('\n').pop()}`;
    return;
  }
  env = { SLURM_CONF: /SLURM_CONF=(\S+)/.exec(up.stdout)![1] };
  stamp('cluster up');
  await initBackend('wasm');
  const model = await writeTinyModel(join(root, 'model'), 1);
  const folder = join(root, 'images');
  await writeQuadrantFolder(folder, IMAGES);
  stamp(`${IMAGES} images written`);
  jobFlags = [
    ...['--model', model, '--dataset', folder, '--preset', 'scale01'],
    ...['--layers', 'conv1,conv2,logits', '--top-k', '3', '--batch-size', '100', '--backend', 'wasm'],
  ];
}, 120_000);

afterAll(async () => {
  if (started) spawnSync('bash', [CLUSTER, 'stop', join(root, 'cluster')], { timeout: 30_000 });
  if (root) await rm(root, { recursive: true, force: true });
});

describe('convlens slurm on a single-node Slurm', () => {
  it('4 array tasks and the merge equal one pass; a shard cancelled mid-run and requeued too', async (ctx) => {
    if (skipReason) {
      console.warn(`slurm-real: skipped: ${skipReason}`);
      ctx.skip();
    }
    const [first, one] = await Promise.all([
      submit(),
      runCli(['stats', ...jobFlags, '--out', join(root, 'one')]),
    ]);
    expect(one.code).toBe(0);
    stamp('submitted, one pass done');
    await waitFor(first.mergeJob, ['COMPLETED'], 240);
    stamp('merge 1 completed');
    const reference = await readStats(join(root, 'one'));
    expect(reference.count).toBe(IMAGES);
    for (let i = 0; i < SHARDS; i++) expect(jobState(`${first.arrayJob}_${i}`)).toBe('COMPLETED');
    expectSameStats(reference, await readStats(join(root, 'merged')));

    // Again, with shard 1's partial gone: 0, 2 and 3 are skipped; 1 is cancelled while it runs.
    const parts = join(root, 'merged.slurm/parts');
    await rm(join(parts, 'shard-1'), { recursive: true });
    await rm(join(root, 'merged'), { recursive: true });
    const second = await submit();
    const task = `${second.arrayJob}_1`;
    await waitFor(task, ['RUNNING'], 60);
    await new Promise((r) => setTimeout(r, 500));
    slurm('scancel', [task]);
    await waitFor(task, ['CANCELLED'], 30);
    expect(existsSync(join(parts, 'shard-1/partial.json'))).toBe(false);
    stamp('shard 1 cancelled');
    // Slurm never releases an afterok on an array with a cancelled task: requeue it, re-point the merge.
    slurm('scontrol', ['requeue', task]);
    slurm('scontrol', [
      'update',
      `JobId=${second.mergeJob}`,
      `Dependency=afterany:${second.arrayJob},afterok:${task}`,
    ]);
    await waitFor(second.mergeJob, ['COMPLETED'], 240);
    stamp('merge 2 completed');
    expect(jobState(task)).toBe('COMPLETED');
    expectSameStats(reference, await readStats(join(root, 'merged')));
    const log = (i: number) => readFile(join(root, `merged.slurm/logs/shard-${i}.log`), 'utf8');
    for (const i of [0, 2, 3]) expect(await log(i)).toMatch(/already finished .* not recomputed/);
    // Shard 1 ran three times (done, cancelled, requeued); its log keeps them all (--open-mode=append).
    expect((await log(1)).match(/shard 1 of 4/g)?.length).toBe(3);
  }, 600_000);
});
