/**
 * `convlens slurm stats|faithfulness|explain <the job's flags> --shards N --out DIR [--submit|--dry-run]`:
 * an sbatch array script and its merge (tasks/scheduler/slurm.ts). Flags only.
 */
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { ShardPlan } from '../tasks/scheduler/plan.ts';
import { parseSlurmMem, parseSlurmTime } from '../tasks/scheduler/resources.ts';
import {
  recoverCommands,
  type SlurmOptions,
  slurmScripts,
  submitSlurm,
  writeSlurmScripts,
} from '../tasks/scheduler/slurm.ts';
import { action } from './common.ts';
import { positiveInt } from './options.ts';
import { absolutePaths, jobArgs, SHARDABLE, shardableCommand } from './scheduler-args.ts';

export const BIN = resolve(import.meta.dirname, '../../bin/convlens.js');

const MAX_SHARDS = 100_000;

export const shardsOption = (v: string) => {
  const n = positiveInt('--shards')(v);
  if (n > MAX_SHARDS) throw new Error(`--shards must be at most ${MAX_SHARDS}, got '${v}'`);
  return n;
};

export function registerSlurmCommand(program: Command): void {
  program
    .command('slurm')
    .usage(`${SHARDABLE.join('|')} <the job's flags> --shards N --out DIR [options]`)
    .description(
      'run a dataset-wide job as a Slurm job array (one task per shard, --shard auto) and a merge that waits ' +
        'for it (--dependency=afterok); writes the sbatch scripts, --submit submits them',
    )
    .argument('<job>', SHARDABLE.join(', '))
    .argument('[flags...]', "the job's own flags (--model, --dataset, …)")
    .allowUnknownOption()
    .requiredOption('--shards <n>', 'number of shards (array tasks)', shardsOption)
    .requiredOption('--out <dir>', 'where the merge writes the result')
    .option('--workdir <dir>', 'scripts, logs/ and parts/ (default: OUT.slurm beside --out)')
    .option('--partition <name>', 'Slurm partition')
    .option('--time <limit>', 'time limit per task (Slurm notation: minutes, H:M:S, D-H:M, …)')
    .option('--mem <size>', 'memory per task (Slurm notation: 4G, 500M)')
    .option('--cpus <n>', 'CPUs per task (also the wasm threads of each)', positiveInt('--cpus'))
    .option('--account <name>', 'Slurm account to charge')
    .option('--name <name>', 'job name (default: convlens-<job>)')
    .option('--submit', 'submit both with sbatch and print the job ids')
    .option('--dry-run', 'print both scripts; write and submit nothing')
    .option('--json', 'print the files (and job ids) as JSON')
    .action(async (job: string, flags: string[], o: any) => {
      await action(async () => {
        if (o.submit && o.dryRun) throw new Error('give --submit or --dry-run, not both');
        if (o.time !== undefined) parseSlurmTime(o.time);
        const mem = o.mem !== undefined ? parseSlurmMem(o.mem).slurm : undefined;
        for (const [flag, v] of [
          ['--partition', o.partition],
          ['--account', o.account],
          ['--name', o.name],
        ] as const)
          if (v !== undefined && !/^[\w.@+-]+$/.test(v))
            throw new Error(`${flag} must be letters, digits and . _ - + @, got '${v}'`);
        const cmd = shardableCommand(program, job, 'slurm');
        const { args } = jobArgs(cmd, flags, { via: 'slurm', own: ['--shard', '--out'] });
        const out = resolve(o.out);
        const workdir = resolve(o.workdir ?? join(dirname(out), `${basename(out)}.slurm`));
        const plan: ShardPlan = {
          job,
          shards: o.shards,
          args: absolutePaths(args),
          parts: join(workdir, 'parts'),
          out,
        };
        const so: SlurmOptions = {
          workdir,
          cwd: process.cwd(),
          exec: [process.execPath, BIN],
          name: o.name ?? `convlens-${job}`,
          partition: o.partition,
          time: o.time,
          mem,
          cpus: o.cpus,
          account: o.account,
        };
        if (o.dryRun) {
          const s = slurmScripts(plan, so);
          if (o.json)
            process.stdout.write(`${JSON.stringify({ array: s.array, merge: s.merge }, null, 2)}\n`);
          else
            process.stdout.write(
              `# ${join(workdir, 'array.sbatch')}\n${s.array}\n# ${join(workdir, 'merge.sbatch')}\n${s.merge}` +
                `\n# submit: A=$(sbatch --parsable ${join(workdir, 'array.sbatch')}) && ` +
                `sbatch --dependency=afterok:$A --kill-on-invalid-dep=no ${join(workdir, 'merge.sbatch')}\n`,
            );
          return;
        }
        const files = await writeSlurmScripts(plan, so);
        if (!o.submit) {
          if (o.json) process.stdout.write(`${JSON.stringify({ ...files, workdir }, null, 2)}\n`);
          else
            process.stdout.write(
              `wrote ${files.array} (${plan.shards} array tasks) and ${files.merge}\n` +
                `submit: A=$(sbatch --parsable ${files.array}) && sbatch --dependency=afterok:$A --kill-on-invalid-dep=no ${files.merge}\n`,
            );
          return;
        }
        const s = await submitSlurm(plan, so, files);
        if (o.json) process.stdout.write(`${JSON.stringify({ ...s, ...files }, null, 2)}\n`);
        else
          process.stdout.write(
            `submitted array job ${s.arrayJob} (${plan.shards} shards; logs in ${files.logs}) and merge job ${s.mergeJob} → ${out}\n` +
              `a shard I that failed or was cancelled: ${recoverCommands(s.arrayJob, s.mergeJob)}\n`,
          );
      })(o);
    });
}
