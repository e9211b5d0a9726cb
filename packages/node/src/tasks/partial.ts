/**
 * The partial contract of every sharded dataset-wide job (stats, batch explain, faithfulness, …).
 *
 * A shard's output folder holds `partial.json`: the job's own JSON (its mergeable result) with one
 * extra top-level key, `partial`, the envelope below. The envelope says what the partial is — the job
 * (`kind`), the model (name + core modelFingerprint), the dataset (name, datasetFingerprint of the
 * whole dataset, and the number of images the shards divide), the options that change the result (as
 * values and as a canonical hash), and which shards of how many it covers with their image ranges
 * (positions in the job's image order). A merged result is again a partial (several shards), so merges
 * of merges work.
 *
 * Rules every job follows:
 * - The folder is written atomically (io/atomic writeDirAtomic): it is complete or absent.
 * - Nothing in partial.json depends on time, host, thread count or the other shards: a rerun of a
 *   failed shard writes a bit-identical partial.json (timings go to the summary, not the partial).
 * - Before working, a job asks `isFinished(out, key, shard)`: a finished shard is skipped with a
 *   notice, never recomputed.
 * - `checkMergeable` refuses, in one line naming the partial, another kind, model, dataset or option
 *   set, a shard seen twice, and (unless allowed) a missing shard.
 * Merging itself is per kind: see tasks/merge.ts (one registration line per kind).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { shardRange } from '@convlens/core/stats/dataset-stats';
import type { Shard } from './shard.ts';

export const PARTIAL_FORMAT = 'convlens-partial';
export const PARTIAL_FILE = 'partial.json';

export type PartialKind = 'stats' | 'explain' | 'faithfulness' | (string & {});

/** What a shard's result depends on: equal keys, equal partials. */
export interface PartialKey {
  kind: PartialKind;
  model: { name: string; fingerprint: string };
  /** `images`: how many images the shards divide (after --limit); `name` is informational. */
  dataset: { name: string; fingerprint: string; images: number };
  /** The options that change the result, canonical (sorted keys, no undefined). Not batch size. */
  options: Record<string, unknown>;
  /** 16 hex digits of SHA-256 over the canonical options. */
  optionsHash: string;
}

export interface PartialEnvelope extends PartialKey {
  format: typeof PARTIAL_FORMAT;
  version: 1;
  shardCount: number;
  /** Shards covered (0-based, ascending). */
  shards: number[];
  /** Per covered shard, its image positions [start, end) in the job's image order. */
  ranges: [number, number][];
}

/** A partial as read from disk. */
export interface ReadPartial {
  /** The partial's folder (files it names are relative to it). */
  dir: string;
  /** Its partial.json. */
  file: string;
  envelope: PartialEnvelope;
  /** partial.json's content (the job's own JSON plus `partial`). */
  json: Record<string, any>;
}

/** JSON with object keys sorted and undefined left out, so equal options hash equally. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(sortKeys(v));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : sortKeys(x)));
  if (v && typeof v === 'object' && !ArrayBuffer.isView(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .filter((k) => (v as any)[k] !== undefined)
        .map((k) => [k, sortKeys((v as any)[k])]),
    );
  return v;
}

export function partialKey(k: Omit<PartialKey, 'optionsHash'>): PartialKey {
  const options = sortKeys(k.options) as Record<string, unknown>;
  const optionsHash = createHash('sha256').update(canonicalJson(options)).digest('hex').slice(0, 16);
  return { kind: k.kind, model: k.model, dataset: k.dataset, options, optionsHash };
}

/** The envelope of one shard (its image range follows from the dataset size, as core shardRange). */
export function shardEnvelope(key: PartialKey, shard: Shard): PartialEnvelope {
  return {
    format: PARTIAL_FORMAT,
    version: 1,
    ...key,
    shardCount: shard.count,
    shards: [shard.index],
    ranges: [shardRange(key.dataset.images, shard.index, shard.count)],
  };
}

/** partial.json's content: the job's JSON with the envelope under `partial`. */
export const withEnvelope = <T extends object>(json: T, envelope: PartialEnvelope) => ({
  ...json,
  partial: envelope,
});

const sameKey = (a: PartialKey, b: PartialKey) =>
  a.kind === b.kind &&
  a.model.fingerprint === b.model.fingerprint &&
  a.dataset.fingerprint === b.dataset.fingerprint &&
  a.dataset.images === b.dataset.images &&
  a.optionsHash === b.optionsHash;

/**
 * Whether `dir` already holds this shard's finished partial (same kind, model, dataset, options and
 * shard): then the job is skipped, never recomputed. Absent, unreadable or other partials: false.
 */
export async function isFinished(dir: string, key: PartialKey, shard: Shard): Promise<boolean> {
  try {
    const p = await readPartial(dir);
    const e = p.envelope;
    return (
      sameKey(e, key) && e.shardCount === shard.count && e.shards.length === 1 && e.shards[0] === shard.index
    );
  } catch {
    return false;
  }
}

/** The notice a skipped finished shard prints. */
export const finishedNotice = (kind: string, dir: string, shard: Shard) =>
  `notice: ${kind}: ${shard.count > 1 ? `shard ${shard.index + 1}/${shard.count}` : 'the result'} is already finished in ${dir} (same model, dataset and options); not recomputed`;

function checkEnvelope(e: any, file: string): PartialEnvelope {
  const ok =
    e &&
    e.format === PARTIAL_FORMAT &&
    e.version === 1 &&
    typeof e.kind === 'string' &&
    typeof e.model?.fingerprint === 'string' &&
    typeof e.dataset?.fingerprint === 'string' &&
    Number.isInteger(e.dataset?.images) &&
    typeof e.optionsHash === 'string' &&
    Number.isInteger(e.shardCount) &&
    e.shardCount >= 1 &&
    Array.isArray(e.shards) &&
    e.shards.every(
      (s: unknown) => Number.isInteger(s) && (s as number) >= 0 && (s as number) < e.shardCount,
    ) &&
    Array.isArray(e.ranges) &&
    e.ranges.length === e.shards.length;
  if (!ok) throw new Error(`${file}: corrupt partial envelope (the 'partial' key)`);
  return e as PartialEnvelope;
}

/**
 * A partial from its folder or its partial.json. Statistics written before the envelope existed
 * (format convlens-stats, no `partial` key) get one from their own meta, without an options hash
 * (their own merge check then compares layers and top-k).
 */
export async function readPartial(path: string): Promise<ReadPartial> {
  let dir = path;
  let file = join(path, PARTIAL_FILE);
  const st = await stat(path).catch((err) => {
    throw new Error(`${path}: cannot read partial (${err.code === 'ENOENT' ? 'not found' : err.code})`);
  });
  if (!st.isDirectory()) {
    file = path;
    dir = join(path, '..');
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err: any) {
    throw new Error(`${file}: cannot read partial (${err.code === 'ENOENT' ? 'not found' : err.code})`);
  }
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${file}: not valid JSON (corrupt or truncated)`);
  }
  if (json?.partial === undefined && json?.format === 'convlens-stats' && json.meta) {
    const m = json.meta;
    const images = m.datasetSize;
    return {
      dir,
      file,
      json,
      envelope: {
        format: PARTIAL_FORMAT,
        version: 1,
        kind: 'stats',
        model: m.model,
        dataset: { name: m.dataset, fingerprint: `name:${m.dataset}`, images },
        options: {},
        optionsHash: 'legacy',
        shardCount: m.shardCount,
        shards: m.shards,
        ranges: m.shards.map((s: number) => shardRange(images, s, m.shardCount)),
      },
    };
  }
  if (json?.partial === undefined)
    throw new Error(`${file}: not a convlens partial (no 'partial' envelope; was it written by --shard?)`);
  return { dir, file, json, envelope: checkEnvelope(json.partial, file) };
}

/**
 * The partials named by `paths`: each a partial folder, a partial.json, or a folder of partial folders
 * (e.g. PARTS/shard-0 … PARTS/shard-99, as a scheduler's array tasks write them; hidden entries such as
 * unfinished temporary folders and plain files such as logs are passed over). Envelopes only are
 * checked here; the caller reads bodies one at a time.
 */
export async function findPartials(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const st = await stat(p).catch(() => null);
    if (!st) throw new Error(`${p}: not found`);
    if (!st.isDirectory() || (await stat(join(p, PARTIAL_FILE)).catch(() => null))) {
      out.push(p);
      continue;
    }
    const subs = (await readdir(p, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort(naturalOrder);
    const found: string[] = [];
    for (const s of subs) if (await stat(join(p, s, PARTIAL_FILE)).catch(() => null)) found.push(join(p, s));
    if (found.length === 0)
      throw new Error(`${p}: no partial.json in it or in its subfolders (not a shard output folder)`);
    out.push(...found);
  }
  return out;
}

/** shard-2 before shard-10. */
const naturalOrder = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

const shardName = (s: number, n: number) => `shard ${s + 1}/${n}`;

/**
 * Checks that `partials` (envelopes, with the file each came from) belong together and returns the
 * envelope of their merge. Throws one line naming the offending partial: another kind, model, dataset
 * or option set, a shard in two partials, or (unless `allowMissing`) a shard in none.
 */
export function checkMergeable(
  partials: { file: string; envelope: PartialEnvelope }[],
  o: { allowMissing?: boolean } = {},
): PartialEnvelope {
  if (partials.length === 0) throw new Error('merge: no partials given');
  const [first, ...rest] = partials;
  const a = first.envelope;
  const seen = new Map<number, string>();
  const ranges = new Map<number, [number, number]>();
  for (const { file, envelope: b } of partials) {
    const why =
      b.kind !== a.kind
        ? `${/^[aeiou]/.test(b.kind) ? 'an' : 'a'} ${b.kind} partial, not ${a.kind} like ${first.file}`
        : b.model.fingerprint !== a.model.fingerprint
          ? `another model (${b.model.name} ${b.model.fingerprint} vs ${a.model.name} ${a.model.fingerprint} in ${first.file})`
          : b.dataset.fingerprint !== a.dataset.fingerprint || b.dataset.images !== a.dataset.images
            ? `another dataset (${b.dataset.name}, ${b.dataset.images} images, fingerprint ${b.dataset.fingerprint} vs ${a.dataset.name}, ${a.dataset.images} images, ${a.dataset.fingerprint} in ${first.file})`
            : b.optionsHash !== a.optionsHash
              ? `other options (${optionDiff(b.options, a.options)}; ${first.file} has the first)`
              : b.shardCount !== a.shardCount
                ? `another sharding (/${b.shardCount} vs /${a.shardCount} in ${first.file})`
                : undefined;
    if (why) throw new Error(`${file}: cannot merge: ${why}`);
    b.shards.forEach((s, i) => {
      const other = seen.get(s);
      if (other !== undefined)
        throw new Error(
          `${file}: cannot merge: ${shardName(s, a.shardCount)} appears in both ${other} and ${file}`,
        );
      seen.set(s, file);
      ranges.set(s, b.ranges[i]);
    });
  }
  void rest;
  const shards = [...seen.keys()].sort((x, y) => x - y);
  const missing = Array.from({ length: a.shardCount }, (_, i) => i).filter((i) => !seen.has(i));
  if (missing.length && !o.allowMissing) {
    const [s0, e0] = shardRange(a.dataset.images, missing[0], a.shardCount);
    throw new Error(
      `cannot merge: ${missing.length} of ${a.shardCount} shards missing (${missing
        .slice(0, 5)
        .map((s) => shardName(s, a.shardCount))
        .join(
          ', ',
        )}${missing.length > 5 ? ', …' : ''}; the first is images ${s0}–${e0 - 1}); rerun them, or merge what is there with --allow-missing`,
    );
  }
  return { ...a, shards, ranges: shards.map((s) => ranges.get(s)!) };
}

/** The first option that differs, as `name a vs b`. */
function optionDiff(b: Record<string, unknown>, a: Record<string, unknown>): string {
  for (const k of [...new Set([...Object.keys(b), ...Object.keys(a)])].sort()) {
    const x = canonicalJson(b[k] ?? null);
    const y = canonicalJson(a[k] ?? null);
    if (x !== y) return `${k} ${short(x)} vs ${short(y)}`;
  }
  return 'option hashes differ';
}

const short = (s: string) => (s.length > 60 ? `${s.slice(0, 57)}…` : s);

/** Missing shards of a (possibly merged) envelope, 0-based. */
export const missingOf = (e: PartialEnvelope) =>
  Array.from({ length: e.shardCount }, (_, i) => i).filter((i) => !e.shards.includes(i));

/**
 * How one kind of partial merges (registered in tasks/merge.ts). The merge reads partials one at a
 * time in shard order — load, fold into the running result, drop — so memory stays that of two
 * partials whatever the shard count. Folding must not depend on grouping: merge(merge(a,b),c) and
 * merge(a,b,c) write the same files.
 */
export interface PartialMerger<A = unknown> {
  /** A partial's mergeable content (p.json is its partial.json; files it names are under p.dir). */
  load(p: ReadPartial): A | Promise<A>;
  /** b folded into a (a's shards come first); throws a one-line reason when the contents disagree. */
  fold(a: A, b: A): A | Promise<A>;
  /**
   * Writes the merged result into `out` atomically: partial.json (the job's JSON, with `envelope`
   * under `partial`, so the result merges again) plus the job's usual files and index.json.
   */
  write(
    merged: A,
    envelope: PartialEnvelope,
    out: string,
    log: (s: string) => void,
  ): Promise<{ images: number; files: string[] }>;
}
