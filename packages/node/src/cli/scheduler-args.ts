/**
 * The job flags given to `convlens slurm|k8s <job> …`, checked here against the job's own command
 * (unknown flags, bad values, missing --model) so that a typo fails now, in one line, and not in
 * every one of N array tasks on the cluster.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command, Option } from 'commander';

/** Commands that can be scheduled in shards. */
export const SHARDABLE = ['stats', 'faithfulness', 'explain'] as const;

/** Flags whose values are local files or folders (made absolute for Slurm's nodes). */
const PATH_FLAGS = new Set([
  '--model',
  '--run',
  '--dataset',
  '--data-dir',
  '--labels',
  '--labels-csv',
  '--image',
]);

export interface JobArgs {
  /** The job's flags, normalized (`--x=v` split), in order. */
  args: string[];
  /** Values by long flag (the last one given wins, as in commander). */
  values: Map<string, string | true>;
}

/** The job's command, refused when it is not shardable or (yet) takes no --shard. */
export function shardableCommand(program: Command, job: string, via: string): Command {
  if (!(SHARDABLE as readonly string[]).includes(job))
    throw new Error(`${via}: cannot shard '${job}' (expected one of: ${SHARDABLE.join(', ')})`);
  const cmd = program.commands.find((c) => c.name() === job);
  if (!cmd?.options.some((o) => o.long === '--shard'))
    throw new Error(`${via}: \`convlens ${job}\` takes no --shard in this version`);
  return cmd;
}

function check(opt: Option, value: string): void {
  if (opt.argChoices && !opt.argChoices.includes(value))
    throw new Error(`${opt.long}: '${value}' is not one of ${opt.argChoices.join(', ')}`);
  // The job's own parser (positiveInt, oneOf, layer lists …): the same message the job would print.
  const parse = (opt as unknown as { parseArg?: (v: string, prev: unknown) => unknown }).parseArg;
  if (parse) {
    try {
      parse(value, opt.defaultValue);
    } catch (err) {
      throw new Error((err as Error).message);
    }
  }
}

/**
 * Checks `raw` against `cmd`'s options. `own` are flags the scheduler command sets itself (refused
 * here, e.g. --shard); `taken` are scheduler flags pulled out of the list (e.g. k8s's --out).
 */
export function jobArgs(
  cmd: Command,
  raw: string[],
  o: { via: string; own: string[]; taken?: string[] },
): JobArgs & { taken: Map<string, string> } {
  const args: string[] = [];
  const values = new Map<string, string | true>();
  const taken = new Map<string, string>();
  const job = cmd.name();
  for (let i = 0; i < raw.length; i++) {
    let tok = raw[i];
    let inline: string | undefined;
    const eq = tok.indexOf('=');
    if (tok.startsWith('--') && eq > 0) {
      inline = tok.slice(eq + 1);
      tok = tok.slice(0, eq);
    }
    if (!tok.startsWith('-'))
      throw new Error(`${o.via} ${job}: unexpected argument '${tok}' (the job's flags only)`);
    if (o.own.includes(tok)) throw new Error(`${o.via} ${job}: ${tok} is set by convlens ${o.via}`);
    const isTaken = o.taken?.includes(tok);
    const opt = cmd.options.find((x) => x.long === tok || x.short === tok);
    if (!opt && !isTaken) throw new Error(`${o.via} ${job}: unknown option '${tok}' for ${job}`);
    const long = opt?.long ?? tok;
    const needsValue =
      isTaken || opt?.required || (opt?.optional && raw[i + 1] && !raw[i + 1].startsWith('-'));
    if (!needsValue) {
      if (inline !== undefined) throw new Error(`${long} takes no value`);
      args.push(long);
      values.set(long, true);
      continue;
    }
    const value = inline ?? raw[++i];
    if (value === undefined) throw new Error(`${long} needs a value`);
    if (isTaken) {
      taken.set(long, value);
      continue;
    }
    check(opt!, value);
    args.push(long, value);
    values.set(long, value);
  }
  if (cmd.options.some((x) => x.long === '--model') && !values.has('--model') && !values.has('--run'))
    throw new Error(`${o.via} ${job}: give the job's --model`);
  if (job === 'explain' && (!values.has('--dataset') || values.has('--image') || values.has('--index')))
    throw new Error(
      `${o.via} explain: shards run the batch form: give --dataset (without --image or --index)`,
    );
  return { args, values, taken };
}

/** Path flags made absolute where they name something that exists here (names like mnist stay). */
export function absolutePaths(args: string[], cwd = process.cwd()): string[] {
  const out = [...args];
  for (let i = 0; i < out.length - 1; i++) {
    if (!PATH_FLAGS.has(out[i])) continue;
    const v = out[i + 1];
    if (/^[a-z]+:\/\//i.test(v)) continue;
    const abs = resolve(cwd, v);
    if (existsSync(abs)) out[i + 1] = abs;
    i++;
  }
  return out;
}
