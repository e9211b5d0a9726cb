/**
 * The one long-job contract: every long job (training, maximization, statistics, faithfulness, the lab's
 * stages) reports progress and checks for a stop request through these hooks, so the CLI (progress bar,
 * Ctrl-C), the lab and the explorer (Stop button) drive them the same way. Resume is the job's own
 * business (checkpoints, cached partials), keyed by its settings.
 */
export interface JobHooks {
  /** `done` of `total` units (images, steps, epochs) finished; `detail` is free text (a metric, a phase). */
  onProgress?(done: number, total: number, detail?: Record<string, string | number>): void;
  /** Polled between units of work: true stops the job cleanly after the current unit. */
  shouldStop?(): boolean;
  /** One-line notices. */
  log?(line: string): void;
}

/** Thrown by a job that stopped because shouldStop() said so (the CLI exits 130, the lab resumes later). */
export class JobStopped extends Error {
  constructor(what = 'job') {
    super(`${what} stopped`);
    this.name = 'JobStopped';
  }
}

/** Throws JobStopped when the hooks ask to stop. */
export function checkStop(hooks: JobHooks | undefined, what?: string): void {
  if (hooks?.shouldStop?.()) throw new JobStopped(what);
}
