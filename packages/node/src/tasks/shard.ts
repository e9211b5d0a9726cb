/**
 * Which shard of a dataset-wide job this process runs: `--shard i/n` (1-based i) or `--shard auto`,
 * read from the scheduler that started it — a Slurm job array (SLURM_ARRAY_TASK_ID with
 * SLURM_ARRAY_TASK_COUNT or _MIN/_MAX) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with the
 * count in CONVLENS_SHARD_COUNT since Kubernetes does not export it). Index is 0-based in the result.
 */
export interface Shard {
  index: number;
  count: number;
}

/** Parses `i/n` (1-based i). */
export function parseShard(v: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  const i = m ? Number(m[1]) : Number.NaN;
  const n = m ? Number(m[2]) : Number.NaN;
  if (!m || n < 1 || i < 1 || i > n)
    throw new Error(`--shard must be i/n with 1 ≤ i ≤ n, or auto; got '${v}'`);
  return { index: i - 1, count: n };
}

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v.trim())) throw new Error(`--shard auto: ${name}='${v}' is not a non-negative integer`);
  return Number(v);
}

/** The shard a Slurm array task or a Kubernetes Indexed Job pod is; one line naming what is missing. */
export function shardFromEnv(env: NodeJS.ProcessEnv = process.env): Shard {
  const task = envInt(env, 'SLURM_ARRAY_TASK_ID');
  if (task !== undefined) {
    // With the count given (convlens slurm's scripts export it), array ids are the shard indices, so
    // one index resubmitted alone (`sbatch --array=7`, where MIN = MAX = 7) is still shard 7.
    const given = envInt(env, 'CONVLENS_SHARD_COUNT');
    if (given !== undefined) return checked(task, given, `SLURM_ARRAY_TASK_ID=${task}`);
    const min = envInt(env, 'SLURM_ARRAY_TASK_MIN') ?? 0;
    const max = envInt(env, 'SLURM_ARRAY_TASK_MAX');
    // An array like --array=0-99%10 has COUNT 100; a sparse one (0,5,9) has no contiguous meaning,
    // so the count is taken from MIN..MAX and each task is its id's offset into it.
    const count = max !== undefined ? max - min + 1 : envInt(env, 'SLURM_ARRAY_TASK_COUNT');
    if (count === undefined)
      throw new Error(
        '--shard auto: SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_MAX nor SLURM_ARRAY_TASK_COUNT',
      );
    return checked(task - min, count, `SLURM_ARRAY_TASK_ID=${task}`);
  }
  const index = envInt(env, 'JOB_COMPLETION_INDEX');
  if (index !== undefined) {
    const count = envInt(env, 'CONVLENS_SHARD_COUNT');
    if (count === undefined)
      throw new Error(
        "--shard auto: JOB_COMPLETION_INDEX is set but CONVLENS_SHARD_COUNT (the Job's completions) is not",
      );
    return checked(index, count, `JOB_COMPLETION_INDEX=${index}`);
  }
  throw new Error(
    '--shard auto: not inside a Slurm job array (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX); give --shard i/n',
  );
}

function checked(index: number, count: number, what: string): Shard {
  if (count < 1 || index < 0 || index >= count)
    throw new Error(
      `--shard auto: ${what} is outside the ${count} shard${count === 1 ? '' : 's'} of this job`,
    );
  return { index, count };
}

/** `--shard` value: `auto` (from the scheduler's environment) or `i/n`. */
export function resolveShard(v: string, env: NodeJS.ProcessEnv = process.env): Shard {
  return v.trim() === 'auto' ? shardFromEnv(env) : parseShard(v);
}
