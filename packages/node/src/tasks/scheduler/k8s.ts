/**
 * A sharded job as Kubernetes runs it: an Indexed Job (completions = parallelism = N; each pod's
 * JOB_COMPLETION_INDEX is its shard, the count in CONVLENS_SHARD_COUNT since Kubernetes does not export
 * it) writing partials to a mounted volume, and a merge Job applied once the first one completes.
 * Kubernetes has no job-to-job dependency, so the order is `kubectl wait` between two applies.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { stringify } from 'yaml';
import { writeFileAtomic } from '../../io/atomic.ts';
import { mergeArgs, type ShardPlan } from './plan.ts';
import { kubeMemory } from './resources.ts';

export interface K8sOptions {
  /** Job name (a DNS-1123 label; the merge Job is `<name>-merge`). */
  name: string;
  image: string;
  /** PersistentVolumeClaim holding data, model and outputs, mounted at `mountPath` in every pod. */
  volumeClaim: string;
  mountPath: string;
  /** How the image runs convlens (default ['convlens']). */
  command: string[];
  /** Pods at once (default: all N). */
  parallelism?: number;
  cpus?: number;
  /** Memory per pod, Slurm notation (4G → 4Gi). */
  mem?: string;
  /** Time limit per pod in seconds (activeDeadlineSeconds). */
  timeSeconds?: number;
  /** Retries per shard before the shard counts as failed. */
  retries?: number;
  namespace?: string;
  serviceAccount?: string;
}

const INDEX = '$(JOB_COMPLETION_INDEX)';

function podSpec(
  o: K8sOptions,
  args: string[],
  env: { name: string; value: string }[],
  cpus: number,
): IPodSpec {
  const memory = o.mem ? kubeMemory(o.mem) : undefined;
  return {
    restartPolicy: 'Never',
    ...(o.timeSeconds ? { activeDeadlineSeconds: o.timeSeconds } : {}),
    ...(o.serviceAccount ? { serviceAccountName: o.serviceAccount } : {}),
    containers: [
      {
        name: 'convlens',
        image: o.image,
        // Relative paths in the job's flags are then taken on the volume, like --out.
        workingDir: o.mountPath,
        command: o.command,
        args,
        env: [...env, { name: 'CONVLENS_THREADS', value: String(cpus) }],
        resources: {
          requests: { cpu: String(cpus), ...(memory ? { memory } : {}) },
          ...(memory ? { limits: { memory } } : {}),
        },
        volumeMounts: [{ name: 'data', mountPath: o.mountPath }],
      },
    ],
    volumes: [{ name: 'data', persistentVolumeClaim: { claimName: o.volumeClaim } }],
  };
}

/** The Indexed Job and the merge Job for `plan` (paths in the plan are as the pods see them). */
export function k8sManifests(plan: ShardPlan, o: K8sOptions): { shards: IJob; merge: IJob } {
  const labels = { 'app.kubernetes.io/name': 'convlens', 'convlens/job': plan.job, 'convlens/run': o.name };
  const meta = (name: string) => ({ name, ...(o.namespace ? { namespace: o.namespace } : {}), labels });
  const cpus = o.cpus ?? 1;
  const shards: IJob = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: meta(o.name),
    spec: {
      completionMode: 'Indexed',
      completions: plan.shards,
      parallelism: Math.min(o.parallelism ?? plan.shards, plan.shards),
      // Per-index retries (Kubernetes ≥ 1.29): one bad shard does not use up the others' retries.
      backoffLimitPerIndex: o.retries ?? 3,
      template: {
        metadata: { labels },
        spec: podSpec(
          o,
          [plan.job, ...plan.args, '--shard', 'auto', '--out', `${plan.parts}/shard-${INDEX}`],
          [{ name: 'CONVLENS_SHARD_COUNT', value: String(plan.shards) }],
          cpus,
        ),
      },
    },
  };
  const merge: IJob = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: meta(`${o.name}-merge`),
    spec: {
      completions: 1,
      backoffLimit: o.retries ?? 3,
      template: {
        metadata: { labels },
        spec: podSpec(o, mergeArgs(plan), [], 1),
      },
    },
  };
  return { shards, merge };
}

/** One YAML document per Job. */
export function toYaml(job: IJob): string {
  return stringify(job, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** The commands that run both Jobs in order. */
export function kubectlCommands(o: K8sOptions, files: { shards: string; merge: string }): string[] {
  const ns = o.namespace ? ` -n ${o.namespace}` : '';
  return [
    `kubectl apply${ns} -f ${files.shards}`,
    `kubectl wait${ns} --for=condition=complete --timeout=24h job/${o.name}`,
    `kubectl apply${ns} -f ${files.merge}`,
  ];
}

/** Writes shards.yaml and merge.yaml into `dir`. */
export async function writeK8sManifests(
  dir: string,
  m: { shards: IJob; merge: IJob },
): Promise<{ shards: string; merge: string }> {
  await mkdir(dir, { recursive: true });
  const files = { shards: join(dir, 'shards.yaml'), merge: join(dir, 'merge.yaml') };
  await writeFileAtomic(files.shards, toYaml(m.shards));
  await writeFileAtomic(files.merge, toYaml(m.merge));
  return files;
}
