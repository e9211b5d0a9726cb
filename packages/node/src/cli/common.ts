/** Shared CLI plumbing: one-line errors, stderr logging, common options. */

import { BACKENDS } from '@convlens/core/engine/backend';
import { type Command, Option } from 'commander';
import { describeFsError } from '../io/write-errors.ts';
import { oneOf } from './options.ts';

export const log = (s: string) => process.stderr.write(`${s}\n`);

let verbose = process.argv.includes('--verbose');
export function setVerbose(v: boolean): void {
  verbose = v;
}

/** Prints `convlens: <first line of the message>` (and the stack with --verbose) and exits 1. */
export function fail(err: unknown): never {
  const e = describeFsError(err) as Error;
  const message = (e?.message ?? String(err)).split('\n')[0];
  process.stderr.write(`convlens: ${message}\n`);
  if (verbose && e?.stack) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
}

/** Wraps a command's action so any error becomes one line and exit code 1. */
export function action<T>(fn: (opts: T, cmd?: Command) => Promise<void>) {
  return async (opts: T, cmd?: Command) => {
    // The threaded wasm engine's workers are unref'ed so finished commands exit; this keeps the
    // process alive until the command itself is done, whatever it awaits.
    const alive = setInterval(() => {}, 1 << 30);
    try {
      await fn(opts, cmd);
    } catch (err) {
      fail(err);
    } finally {
      clearInterval(alive);
    }
  };
}

/** Node's backends: core's, plus native (wasm with oneDNN kernels where they build; the default). */
export const backendOption = () =>
  new Option('--backend <name>', 'compute backend (native: wasm + oneDNN CPU kernels, else wasm)')
    .argParser(oneOf('backend', [...BACKENDS, 'native']))
    .default('native');

export const dataOptions = (cmd: Command) =>
  cmd
    .option('--data-dir <dir>', 'folder holding the dataset files (or <name>/ with them)')
    .option('--no-download', 'never download; fail when the files are not found locally');
