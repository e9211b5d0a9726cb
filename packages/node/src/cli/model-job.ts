/**
 * What every model command's action does around its job: start the backend, open --model, run the job
 * with the progress bar and Ctrl-C, free the model. One copy for the commands that share it.
 */
import { type BackendName, initBackend } from '@convlens/core/engine/backend';
import { InvalidArgumentError } from 'commander';
import { type OpenedModel, openModel } from '../open/open-model.ts';
import { cliJob } from '../progress/terminal-job.ts';
import { resolveShard } from '../tasks/shard.ts';
import { log } from './common.ts';
import { type ModelFlags, modelSource, openModelOptions } from './model-options.ts';

/** Starts the backend, opens --model, runs `fn`, frees the model. */
export async function withModel<T>(
  o: ModelFlags & { backend: BackendName },
  fn: (m: OpenedModel) => Promise<T>,
): Promise<T> {
  const source = modelSource(o)!;
  await initBackend(o.backend);
  const m = await openModel(source, openModelOptions(o, log));
  try {
    return await fn(m);
  } finally {
    m.dispose();
  }
}

/** Runs a job with the CLI's progress bar and Ctrl-C; a stopped job exits 130 with nothing written. */
export async function asJob<T>(
  label: string,
  unit: string,
  fn: (job: ReturnType<typeof cliJob>) => Promise<T>,
): Promise<T> {
  const job = cliJob(label, unit, log);
  try {
    return await fn(job);
  } catch (err) {
    if ((err as Error)?.name === 'JobStopped') {
      job.close();
      log(`${label}: stopped; nothing was written`);
      process.exit(130);
    }
    throw err;
  } finally {
    job.close();
  }
}

/** `--shard i/n|auto` as a commander option parser (auto: the Slurm array task or Indexed Job pod). */
export const shardOption = (v: string) => {
  try {
    return resolveShard(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};
