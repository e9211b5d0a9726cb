/**
 * A sharded convlens job as any scheduler runs it: N copies of one command, each with
 * `--shard auto --out PARTS/shard-<index>` (the index from the scheduler's environment), then
 * `convlens merge PARTS --out OUT`. Slurm (slurm.ts) and Kubernetes (k8s.ts) only wrap this in their
 * own files.
 */

export interface ShardPlan {
  /** The command being sharded (stats, faithfulness, explain). */
  job: string;
  /** Number of shards (array tasks, completions). */
  shards: number;
  /** The job's own flags, in order, without --shard and --out (already checked against the job). */
  args: string[];
  /** Folder the shards write their partials into (shard-0 … shard-N-1). */
  parts: string;
  /** Where the merge writes the result. */
  out: string;
}

/** One shell word: unquoted when plainly safe, else single-quoted. */
export function shellQuote(s: string): string {
  if (s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The merge's convlens arguments (tasks/merge.ts reads every shard folder under PARTS). */
export function mergeArgs(plan: ShardPlan): string[] {
  return ['merge', plan.parts, '--out', plan.out];
}
