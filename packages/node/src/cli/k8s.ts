/**
 * `convlens k8s stats|faithfulness|explain <the job's flags> --shards N --image IMG --volume-claim PVC`:
 * a Kubernetes Indexed Job and its merge Job (tasks/scheduler/k8s.ts). Flags only.
 */
import { posix, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  type K8sOptions,
  k8sManifests,
  kubectlCommands,
  toYaml,
  writeK8sManifests,
} from '../tasks/scheduler/k8s.ts';
import type { ShardPlan } from '../tasks/scheduler/plan.ts';
import { kubeName, parseSlurmMem, parseSlurmTime } from '../tasks/scheduler/resources.ts';
import { action } from './common.ts';
import { positiveInt } from './options.ts';
import { jobArgs, SHARDABLE, shardableCommand } from './scheduler-args.ts';
import { shardsOption } from './slurm.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function registerK8sCommand(program: Command): void {
  program
    .command('k8s')
    .usage(
      `${SHARDABLE.join('|')} <the job's flags> --out PATH --shards N --image IMG --volume-claim PVC [options]`,
    )
    .description(
      'run a dataset-wide job as a Kubernetes Indexed Job (one pod per shard, --shard auto) and a merge Job; ' +
        "writes the two manifests (paths in the job's flags and --out are as the pods see them)",
    )
    .argument('<job>', SHARDABLE.join(', '))
    .argument('[flags...]', "the job's own flags (--model, --dataset, --out, …), as paths inside the pods")
    .allowUnknownOption()
    .requiredOption('--shards <n>', 'number of shards (completions)', shardsOption)
    .requiredOption('--image <image>', 'container image with convlens')
    .requiredOption('--volume-claim <pvc>', 'PersistentVolumeClaim with data, model and outputs')
    .option('--mount-path <dir>', 'where the claim is mounted in the pods', '/data')
    .option('--command <cmd>', 'how the image runs convlens', 'convlens')
    .option('--parallelism <n>', 'pods at once (default: all shards)', positiveInt('--parallelism'))
    .option('--cpus <n>', 'CPU request per pod (also its wasm threads)', positiveInt('--cpus'))
    .option('--mem <size>', 'memory per pod (Slurm notation: 4G → 4Gi)')
    .option('--time <limit>', 'time limit per pod (Slurm notation; activeDeadlineSeconds)')
    .option('--retries <n>', 'retries per shard (backoffLimitPerIndex)', positiveInt('--retries'), 3)
    .option('--namespace <ns>', 'namespace')
    .option('--service-account <name>', 'service account of the pods')
    .option('--name <name>', 'Job name (default: convlens-<job>)')
    .option('--manifests <dir>', 'where to write shards.yaml and merge.yaml (default: ./<name>.k8s)')
    .option('--dry-run', 'print both manifests; write nothing')
    .option('--json', 'print the files and kubectl commands as JSON')
    .action(async (job: string, flags: string[], o: any) => {
      await action(async () => {
        const cmd = shardableCommand(program, job, 'k8s');
        const { args, taken } = jobArgs(cmd, flags, { via: 'k8s', own: ['--shard'], taken: ['--out'] });
        const outFlag = taken.get('--out');
        if (!outFlag) throw new Error("convlens k8s: give the job's --out (a path inside the pods)");
        const mount = o.mountPath as string;
        if (!mount.startsWith('/')) throw new Error(`--mount-path must be absolute, got '${mount}'`);
        // Relative --out lands on the volume; an absolute one must be on it too, or it is lost with the pod.
        const out = posix.resolve(mount, outFlag);
        if (out !== mount && !out.startsWith(`${mount.replace(/\/$/, '')}/`))
          throw new Error(`--out ${outFlag}: not under the volume's --mount-path ${mount}`);
        const name = o.name ?? kubeName(`convlens-${job}`);
        if (!DNS_LABEL.test(name) || name.length > 50)
          throw new Error(`--name must be a DNS label of at most 50 characters (a-z, 0-9, -), got '${name}'`);
        for (const [flag, v] of [
          ['--namespace', o.namespace],
          ['--volume-claim', o.volumeClaim],
          ['--service-account', o.serviceAccount],
        ] as const)
          if (v !== undefined && !(DNS_LABEL.test(v) || /^[a-z0-9][-a-z0-9.]*[a-z0-9]$/.test(v)))
            throw new Error(`${flag} must be a Kubernetes name (a-z, 0-9, - and .), got '${v}'`);
        const plan: ShardPlan = {
          job,
          shards: o.shards,
          args,
          parts: `${out}.parts`,
          out,
        };
        const ko: K8sOptions = {
          name,
          image: o.image,
          volumeClaim: o.volumeClaim,
          mountPath: mount,
          command: (o.command as string).split(/\s+/).filter(Boolean),
          parallelism: o.parallelism,
          cpus: o.cpus,
          mem: o.mem !== undefined ? parseSlurmMem(o.mem).slurm : undefined,
          timeSeconds: o.time !== undefined ? parseSlurmTime(o.time) : undefined,
          retries: o.retries,
          namespace: o.namespace,
          serviceAccount: o.serviceAccount,
        };
        const m = k8sManifests(plan, ko);
        if (o.dryRun) {
          if (o.json) process.stdout.write(`${JSON.stringify(m, null, 2)}\n`);
          else process.stdout.write(`${toYaml(m.shards)}---\n${toYaml(m.merge)}`);
          return;
        }
        const files = await writeK8sManifests(resolve(o.manifests ?? `${name}.k8s`), m);
        const run = kubectlCommands(ko, files);
        if (o.json) process.stdout.write(`${JSON.stringify({ ...files, kubectl: run }, null, 2)}\n`);
        else
          process.stdout.write(
            `wrote ${files.shards} (Indexed Job, ${plan.shards} completions) and ${files.merge}\nrun:\n  ${run.join(' &&\n  ')}\n`,
          );
      })(o);
    });
}
