/**
 * A sharded job as Slurm runs it: an sbatch array script (one task per shard, `--shard auto`, a log
 * per task) and a merge script submitted with `--dependency=afterok:<array job>`. Slurm does the
 * scheduling, retrying and accounting; this only writes the scripts and calls sbatch.
 */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeFileAtomic, writeJsonAtomic } from '../../io/atomic.ts';
import { mergeArgs, shellQuote as q, type ShardPlan } from './plan.ts';

export interface SlurmOptions {
  /** Folder for the scripts, logs/ and (by default) the partials; absolute. */
  workdir: string;
  /** Folder the tasks start in (relative paths in the job's flags are taken from here). */
  cwd: string;
  /** The program and script that run convlens on the nodes: [node, .../bin/convlens.js]. */
  exec: string[];
  name: string;
  partition?: string;
  /** Slurm time limit per task, as given (validated by parseSlurmTime). */
  time?: string;
  /** Memory per task, Slurm notation (e.g. 4G). */
  mem?: string;
  cpus?: number;
  account?: string;
}

export interface SlurmScripts {
  array: string;
  merge: string;
}

function directives(o: SlurmOptions, extra: string[]): string[] {
  const d = [
    ...extra,
    `--chdir=${o.cwd}`,
    `--cpus-per-task=${o.cpus ?? 1}`,
    ...(o.mem ? [`--mem=${o.mem}`] : []),
    ...(o.time ? [`--time=${o.time}`] : []),
    ...(o.partition ? [`--partition=${o.partition}`] : []),
    ...(o.account ? [`--account=${o.account}`] : []),
  ];
  // #SBATCH lines are not parsed by a shell: a value with spaces would be cut there, so quote it.
  return d.map((x) => `#SBATCH ${/\s/.test(x) ? x.replace(/=(.*)$/, '="$1"') : x}`);
}

/** The two sbatch scripts for `plan`. */
export function slurmScripts(plan: ShardPlan, o: SlurmOptions): SlurmScripts {
  const n = plan.shards;
  const logs = join(o.workdir, 'logs');
  const run = o.exec.map(q).join(' ');
  const array = [
    '#!/bin/bash',
    `# convlens ${plan.job} in ${n} shard${n === 1 ? '' : 's'}: one array task per shard (written by \`convlens slurm\`).`,
    '# A task run again (requeue, resubmission) keeps a finished partial instead of recomputing it.',
    `#SBATCH --job-name=${q(o.name)}`,
    ...directives(o, [
      `--array=0-${n - 1}`,
      `--output=${join(logs, 'shard-%a.log')}`,
      '--open-mode=append',
      '--requeue',
    ]),
    'set -euo pipefail',
    // The array ids are the shard indices, also when one index is resubmitted alone (--array=7).
    `export CONVLENS_SHARD_COUNT=${n}`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell default, not a JS template
    'export CONVLENS_THREADS="${SLURM_CPUS_PER_TASK:-1}"',
    `echo "convlens ${plan.job}: shard $SLURM_ARRAY_TASK_ID of ${n} (job $SLURM_JOB_ID) on $(hostname) at $(date -Is)"`,
    `exec ${run} ${[plan.job, ...plan.args, '--shard', 'auto'].map(q).join(' ')} --out ${q(join(plan.parts, 'shard-'))}"$SLURM_ARRAY_TASK_ID"`,
    '',
  ].join('\n');
  const merge = [
    '#!/bin/bash',
    `# Merges the ${n} partials of convlens ${plan.job} into ${plan.out}; submitted with --dependency=afterok:<array job>.`,
    `#SBATCH --job-name=${q(`${o.name}-merge`)}`,
    ...directives({ ...o, cpus: 1 }, [`--output=${join(logs, 'merge-%j.log')}`, '--open-mode=append']),
    'set -euo pipefail',
    `echo "convlens ${plan.job}: merging ${n} partials (job $SLURM_JOB_ID) on $(hostname) at $(date -Is)"`,
    `exec ${run} ${mergeArgs(plan).map(q).join(' ')}`,
    '',
  ].join('\n');
  return { array, merge };
}

export interface SlurmFiles {
  array: string;
  merge: string;
  logs: string;
}

/** Writes both scripts (executable) under the workdir and makes logs/ and the partials' folder. */
export async function writeSlurmScripts(plan: ShardPlan, o: SlurmOptions): Promise<SlurmFiles> {
  const s = slurmScripts(plan, o);
  const files = {
    array: join(o.workdir, 'array.sbatch'),
    merge: join(o.workdir, 'merge.sbatch'),
    logs: join(o.workdir, 'logs'),
  };
  await mkdir(files.logs, { recursive: true });
  await mkdir(plan.parts, { recursive: true });
  await writeFileAtomic(files.array, s.array);
  await writeFileAtomic(files.merge, s.merge);
  return files;
}

export interface Submitted {
  arrayJob: string;
  mergeJob: string;
  shards: number;
  workdir: string;
  /** What to type when a shard failed or was cancelled (see recoverCommands). */
  recover: string;
}

export type Runner = (cmd: string, args: string[]) => Promise<string>;

const run: Runner = async (cmd, args) => {
  try {
    return (await promisify(execFile)(cmd, args, { encoding: 'utf8' })).stdout;
  } catch (err: any) {
    if (err?.code === 'ENOENT') throw new Error(`${cmd} not found: is this a Slurm login node?`);
    const msg = String(err?.stderr || err?.message || err)
      .trim()
      .split('\n')[0];
    throw new Error(`${cmd} ${args.join(' ')}: ${msg}`);
  }
};

/** `sbatch --parsable` prints "jobid" or "jobid;cluster". */
function jobId(out: string, what: string): string {
  const id = out.trim().split(';')[0];
  if (!/^\d+$/.test(id)) throw new Error(`sbatch gave no job id for the ${what} (printed '${out.trim()}')`);
  return id;
}

/**
 * Slurm never releases an afterok on an array once one of its tasks failed or was cancelled, even
 * after the task is requeued and succeeds: the waiting merge needs its dependency set again.
 */
export function recoverCommands(arrayJob: string, mergeJob: string, index = 'I'): string {
  return `scontrol requeue ${arrayJob}_${index} && scontrol update JobId=${mergeJob} Dependency=afterany:${arrayJob},afterok:${arrayJob}_${index}`;
}

/** Submits the array, then the merge after it; records both ids in WORKDIR/jobs.json. */
export async function submitSlurm(
  plan: ShardPlan,
  o: SlurmOptions,
  files: SlurmFiles,
  runner: Runner = run,
): Promise<Submitted> {
  const arrayJob = jobId(await runner('sbatch', ['--parsable', files.array]), 'array');
  const mergeJob = jobId(
    await runner('sbatch', [
      '--parsable',
      `--dependency=afterok:${arrayJob}`,
      '--kill-on-invalid-dep=no',
      files.merge,
    ]),
    'merge',
  );
  const submitted = {
    arrayJob,
    mergeJob,
    shards: plan.shards,
    workdir: o.workdir,
    recover: recoverCommands(arrayJob, mergeJob),
  };
  await writeJsonAtomic(join(o.workdir, 'jobs.json'), { ...submitted, job: plan.job, out: plan.out });
  return submitted;
}
