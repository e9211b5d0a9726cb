// convlens slurm / k8s without a cluster: Slurm time and memory notation, the job's flags checked against
// the job's own command, the sbatch array script run by bash (its convlens argv exactly, quoting of odd
// paths, the shard from the array id), and the Kubernetes manifests validated against the Job schema
// (kubernetes-models' validator, generated from the Kubernetes OpenAPI spec). No Kubernetes cluster
// here: the manifests are checked, not applied. The real Slurm run is slurm-real.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { registerExplainCommand } from '../src/cli/explain.ts';
import { registerInsideCommands } from '../src/cli/inside.ts';
import { absolutePaths, jobArgs, shardableCommand } from '../src/cli/scheduler-args.ts';
import { k8sManifests, toYaml } from '../src/tasks/scheduler/k8s.ts';
import type { ShardPlan } from '../src/tasks/scheduler/plan.ts';
import { kubeName, parseSlurmMem, parseSlurmTime } from '../src/tasks/scheduler/resources.ts';
import { slurmScripts, writeSlurmScripts } from '../src/tasks/scheduler/slurm.ts';
import { runCli } from './cli-helpers.ts';

let root: string;
const program = new Command();
registerInsideCommands(program);
const stats = shardableCommand(program, 'stats', 'slurm');
const withExplain = new Command();
registerExplainCommand(withExplain);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'convlens sched "x" '));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('Slurm notation', () => {
  it('time limits in every Slurm form, in seconds', () => {
    const t = (v: string) => parseSlurmTime(v);
    expect([t('30'), t('1:30'), t('2:00:00'), t('1-12'), t('1-0:30'), t('1-0:0:5')]).toEqual([
      1800, 90, 7200, 129600, 88200, 86405,
    ]);
    expect(() => t('1:99')).toThrow(
      "--time must be a Slurm time limit (minutes, M:S, H:M:S, D-H, D-H:M or D-H:M:S), got '1:99'",
    );
    expect(() => t('2h')).toThrow(/--time must be a Slurm time limit/);
    expect(() => t('0')).toThrow("--time must be at least a second, got '0'");
  });
  it('memory with K/M/G/T (no suffix: MB), and as a Kubernetes quantity', () => {
    expect(parseSlurmMem('4G')).toEqual({ slurm: '4G', bytes: 4 * 2 ** 30 });
    expect(parseSlurmMem('500')).toEqual({ slurm: '500M', bytes: 500 * 2 ** 20 });
    expect(() => parseSlurmMem('4GB')).toThrow(/--mem must be a positive integer/);
    expect(kubeName('convlens-Stats_ImageNet val')).toBe('convlens-stats-imagenet-val');
    expect(kubeName('9 lives')).toBe('c-9-lives');
  });
});

describe("the job's flags", () => {
  it('are checked against the job: unknown flags, bad values, --shard, a missing --model', () => {
    const check = (args: string[]) => () => jobArgs(stats, args, { via: 'slurm', own: ['--shard', '--out'] });
    expect(check(['--model', 'm', '--lyers', 'conv1'])).toThrow(
      "slurm stats: unknown option '--lyers' for stats",
    );
    expect(check(['--model', 'm', '--top-k', '0'])).toThrow("--top-k must be a positive integer, got '0'");
    expect(check(['--model', 'm', '--on-corrupt', 'ignore'])).toThrow(/on-corrupt/);
    expect(check(['--model', 'm', '--shard', '1/2'])).toThrow(
      'slurm stats: --shard is set by convlens slurm',
    );
    expect(check(['--dataset', 'mnist'])).toThrow("slurm stats: give the job's --model");
    expect(check(['--model', 'm', 'merge'])).toThrow("slurm stats: unexpected argument 'merge'");
    expect(() => shardableCommand(program, 'train', 'slurm')).toThrow(/cannot shard 'train'/);
    const explain = shardableCommand(withExplain, 'explain', 'slurm');
    expect(() => jobArgs(explain, ['--model', 'm', '--image', 'a.png'], { via: 'slurm', own: [] })).toThrow(
      'slurm explain: shards run the batch form: give --dataset (without --image or --index)',
    );
    const ok = jobArgs(stats, ['--model', 'm', '--layers=conv1,conv2', '--strict-classes', '--top-k', '3'], {
      via: 'slurm',
      own: ['--shard', '--out'],
    });
    expect(ok.args).toEqual(['--model', 'm', '--layers', 'conv1,conv2', '--strict-classes', '--top-k', '3']);
  });
  it('local paths become absolute; dataset names and URLs stay', () => {
    expect(
      absolutePaths(
        ['--model', '.', '--dataset', 'mnist', '--labels', 'https://x/y.txt', '--top-k', '3'],
        root,
      ),
    ).toEqual(['--model', root, '--dataset', 'mnist', '--labels', 'https://x/y.txt', '--top-k', '3']);
  });
});

const plan = (parts: string, shards = 4): ShardPlan => ({
  job: 'stats',
  shards,
  args: ['--model', join(parts, "it's a model"), '--layers', 'conv1,conv2'],
  parts,
  out: join(parts, '..', 'merged'),
});

describe('the sbatch scripts', () => {
  it('one array task per shard; bash runs convlens with the shard from the array id, paths quoted', async () => {
    const parts = join(root, 'parts');
    const argv = join(root, 'argv.mjs');
    await writeFile(
      argv,
      'console.log(JSON.stringify({ argv: process.argv.slice(2), n: process.env.CONVLENS_SHARD_COUNT }))\n',
    );
    const so = {
      workdir: root,
      cwd: root,
      exec: [process.execPath, argv],
      name: 'convlens-stats',
      time: '1:00:00',
      mem: '4G',
      cpus: 2,
      partition: 'cpu',
    };
    const s = slurmScripts(plan(parts, 100), so);
    for (const line of [
      '--array=0-99',
      `--output=${join(root, 'logs/shard-%a.log')}`,
      '--requeue',
      '--open-mode=append',
      '--cpus-per-task=2',
      '--mem=4G',
      '--time=1:00:00',
      '--partition=cpu',
    ])
      expect(s.array).toContain(`#SBATCH ${line.includes(' ') ? line.replace(/=(.*)$/, '="$1"') : line}\n`);
    expect(s.merge).not.toContain('--array');
    const files = await writeSlurmScripts(plan(parts, 100), so);
    const run = (file: string, id: string) =>
      JSON.parse(
        execFileSync('bash', [file], {
          env: { ...process.env, SLURM_ARRAY_TASK_ID: id, SLURM_JOB_ID: '7' },
          encoding: 'utf8',
        }).split('\n')[1],
      );
    expect(run(files.array, '42')).toEqual({
      argv: [
        'stats',
        '--model',
        join(parts, "it's a model"),
        '--layers',
        'conv1,conv2',
        '--shard',
        'auto',
        '--out',
        join(parts, 'shard-42'),
      ],
      n: '100',
    });
    expect(run(files.merge, '')).toEqual({ argv: ['merge', parts, '--out', join(root, 'merged')] });
  });
});

describe('the Kubernetes manifests', () => {
  const ko = {
    name: 'convlens-stats',
    image: 'ghcr.io/x/convlens:1',
    volumeClaim: 'data',
    mountPath: '/data',
    command: ['convlens'],
    cpus: 2,
    mem: '4G',
    timeSeconds: 7200,
  };
  it('an Indexed Job (completions = parallelism = N) and a merge Job that pass the Job schema', () => {
    const m = k8sManifests(plan('/data/out.parts', 100), ko);
    expect(() => new Job(m.shards as any).validate()).not.toThrow();
    expect(() => new Job(m.merge as any).validate()).not.toThrow();
    const spec = m.shards.spec!;
    expect([spec.completionMode, spec.completions, spec.parallelism]).toEqual(['Indexed', 100, 100]);
    const c = spec.template.spec!.containers[0];
    expect(c.env).toContainEqual({ name: 'CONVLENS_SHARD_COUNT', value: '100' });
    expect(c.args!.slice(-4)).toEqual([
      '--shard',
      'auto',
      '--out',
      '/data/out.parts/shard-$(JOB_COMPLETION_INDEX)',
    ]);
    expect(c.resources).toEqual({ requests: { cpu: '2', memory: '4Gi' }, limits: { memory: '4Gi' } });
    expect(m.merge.spec!.template.spec!.containers[0].args).toEqual([
      'merge',
      '/data/out.parts',
      '--out',
      '/data/merged',
    ]);
    expect(parse(toYaml(m.shards))).toEqual(JSON.parse(JSON.stringify(m.shards)));
    // The validator is live: a misspelt completion mode and a container without a name fail.
    const bad = JSON.parse(JSON.stringify(m.shards));
    bad.spec.completionMode = 'indexed';
    delete bad.spec.template.spec.containers[0].name;
    expect(() => new Job(bad).validate()).toThrow(
      /completionMode must be equal to one of the allowed values.*must have required property name/,
    );
  });
  it('convlens k8s --dry-run --json prints them; a bad flag fails in one line', async () => {
    const r = await runCli([
      'k8s',
      'stats',
      '--model',
      'models/m',
      '--dataset',
      'val',
      '--out',
      'out/stats',
      '--shards',
      '8',
      '--image',
      'img:1',
      '--volume-claim',
      'data',
      '--dry-run',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout);
    expect(() => new Job(m.shards).validate()).not.toThrow();
    expect(m.shards.spec.template.spec.containers[0].args).toEqual([
      'stats',
      '--model',
      'models/m',
      '--dataset',
      'val',
      '--shard',
      'auto',
      '--out',
      '/data/out/stats.parts/shard-$(JOB_COMPLETION_INDEX)',
    ]);
    const bad = await runCli([
      'slurm',
      'stats',
      '--model',
      'm',
      '--top-k',
      'x',
      '--shards',
      '2',
      '--out',
      join(root, 'o'),
      '--dry-run',
    ]);
    expect([bad.code, bad.stderr.trim()]).toEqual([
      1,
      "convlens: --top-k must be a positive integer, got 'x'",
    ]);
  }, 120_000);
});
