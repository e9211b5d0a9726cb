/**
 * A sharded convlens job as any scheduler runs it: N copies of one command, each with
 * `--shard auto --out PARTS/shard-<index>` (the index from the scheduler's environment), then one merge
 * of PARTS into OUT. Slurm (slurm.ts) and Kubernetes (k8s.ts) only wrap this in their own files.
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
  /**
   * The merge, as convlens arguments before `--out OUT`; `{PARTS}` stands for the partials' folder,
   * `{SHARDS}` for every shard's folder (for merges that take a list).
   */
  merge: string[];
}

/** One shell word: unquoted when plainly safe, else single-quoted. */
export function shellQuote(s: string): string {
  if (s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The merge's convlens arguments (before `--out`), `{PARTS}` and `{SHARDS}` written by the caller:
 * `parts` is the folder as the scheduler's shell or container sees it, `shards` every shard folder.
 */
export function mergeWords(plan: ShardPlan, parts: string, shards: () => string[]): string[] {
  return plan.merge.flatMap((a) => (a === '{PARTS}' ? [parts] : a === '{SHARDS}' ? shards() : [a]));
}
