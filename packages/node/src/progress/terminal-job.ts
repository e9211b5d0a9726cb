/**
 * The CLI side of the long-job contract (core jobs/job.ts): a progress bar on stderr, and Ctrl-C as a
 * stop request (a second Ctrl-C exits at once). One handler for every command.
 */
import type { JobHooks } from '@convlens/core/jobs/job';
import { type Progress, progressBar } from './progress-bar.ts';

export interface CliJob extends JobHooks {
  /** True once Ctrl-C was pressed. */
  readonly stopped: boolean;
  /** Stops the bar and removes the Ctrl-C handler. */
  close(): void;
}

export function cliJob(
  label: string,
  unit: string,
  log: (s: string) => void = (s) => process.stderr.write(`${s}\n`),
): CliJob {
  let bar: Progress | undefined;
  let total = -1;
  let stopped = false;
  const onSigint = () => {
    if (stopped) process.exit(130);
    stopped = true;
    bar?.stop();
    bar = undefined;
    log(`${label}: stopping after the current step (Ctrl-C again to quit now)`);
  };
  process.on('SIGINT', onSigint);
  return {
    get stopped() {
      return stopped;
    },
    onProgress(done, n, detail) {
      if (stopped) return;
      if (!bar || n !== total) {
        bar?.stop();
        total = n;
        bar = progressBar(label, n, unit);
      }
      bar.update(done, detail);
    },
    shouldStop: () => stopped,
    log: (s) => log(s),
    close() {
      bar?.stop();
      bar = undefined;
      process.off('SIGINT', onSigint);
    },
  };
}
