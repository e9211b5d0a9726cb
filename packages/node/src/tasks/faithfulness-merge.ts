/**
 * Faithfulness shards on the partial contract (tasks/partial.ts): a shard takes a contiguous run of
 * whole chunks of the seeded choice (so every image is explained in the same batch as in one pass) and
 * writes partial.json (the job's key and raw per-image values, with the envelope) and timing.json (its
 * measured ms per image, kept out of partial.json so a rerun writes a bit-identical partial). Merging
 * concatenates raw values in position order, so any grouping of merges gives the one-pass table.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobHooks } from '@convlens/core/jobs/job';
import { shardRange } from '@convlens/core/stats/dataset-stats';
import { writeDirAtomic, writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { datasetFingerprint } from '../open/dataset-fingerprint.ts';
import type { OpenedDataset } from '../open/open-dataset.ts';
import type { OpenedModel } from '../open/open-model.ts';
import {
  type FaithfulnessKey,
  type FaithfulnessOptions,
  type FaithfulnessReport,
  faithfulnessRaw,
  faithfulnessReport,
  formatFaithfulnessMarkdown,
} from './faithfulness.ts';
import type { FaithfulnessRaw } from './faithfulness-families.ts';
import {
  checkMergeable,
  findPartials,
  finishedNotice,
  isFinished,
  missingOf,
  PARTIAL_FILE,
  PARTIAL_FORMAT,
  type PartialEnvelope,
  type PartialKey,
  type PartialMerger,
  partialKey,
  readPartial,
  withEnvelope,
} from './partial.ts';
import type { Shard } from './shard.ts';

export const TIMING_FILE = 'timing.json';

export interface FaithfulnessMerged {
  key: FaithfulnessKey;
  raw: FaithfulnessRaw;
}

/** Chunk-aligned contiguous positions [start, end) of shard `s`. */
export function faithfulnessShardRange(count: number, chunk: number, s: Shard): [number, number] {
  const [c0, c1] = shardRange(Math.ceil(count / chunk), s.index, s.count);
  return [Math.min(count, c0 * chunk), Math.min(count, c1 * chunk)];
}

function partialKeyOf(key: FaithfulnessKey, datasetFp: string): PartialKey {
  const { model, modelFingerprint, dataset, count, ...options } = key;
  return partialKey({
    kind: 'faithfulness',
    model: { name: model, fingerprint: modelFingerprint },
    dataset: { name: dataset, fingerprint: datasetFp, images: count },
    options,
  });
}

const stripMs = (raw: FaithfulnessRaw): FaithfulnessRaw => ({
  ...raw,
  entries: raw.entries.map((e) => ({ ...e, ms: [] })),
});

async function writeShardDir(
  out: string,
  merged: FaithfulnessMerged,
  envelope: PartialEnvelope,
  extra?: (dir: string) => Promise<void>,
): Promise<void> {
  await writeDirAtomic(out, async (dir) => {
    await writeJsonAtomic(
      join(dir, PARTIAL_FILE),
      withEnvelope({ key: merged.key, raw: stripMs(merged.raw) }, envelope),
    );
    await writeJsonAtomic(join(dir, TIMING_FILE), {
      positions: merged.raw.positions,
      ms: Object.fromEntries(merged.raw.entries.map((e) => [e.key, e.ms])),
    });
    await extra?.(dir);
  });
}

/** One shard of the job into `out` (partial.json + timing.json); a finished identical shard is skipped. */
export async function faithfulnessShard(
  model: OpenedModel,
  data: OpenedDataset,
  o: FaithfulnessOptions & { shard: Shard; out: string },
  hooks: JobHooks = {},
): Promise<{ skipped: boolean; images: number; seconds: number }> {
  const fp = await datasetFingerprint(data);
  let skipped = false;
  const r = await faithfulnessRaw(
    model,
    data,
    {
      ...o,
      reuse: async (key, shard) => {
        if (!(await isFinished(o.out, partialKeyOf(key, fp), shard))) return undefined;
        hooks.log?.(finishedNotice('faithfulness', o.out, shard));
        skipped = true;
        const p = await readPartial(o.out);
        return { key, shard, raw: p.json.raw, seconds: 0 };
      },
    },
    hooks,
  );
  if (!skipped) {
    const envelope: PartialEnvelope = {
      format: PARTIAL_FORMAT,
      version: 1,
      ...partialKeyOf(r.key, fp),
      shardCount: o.shard.count,
      shards: [o.shard.index],
      ranges: [faithfulnessShardRange(r.key.count, r.key.chunk, o.shard)],
    };
    await writeShardDir(o.out, { key: r.key, raw: r.raw }, envelope);
  }
  return { skipped, images: r.raw.positions.length, seconds: r.seconds };
}

/** Raw values of several partials in position order (errors: the first; warnings: summed). */
export function mergeRaw(raws: FaithfulnessRaw[]): FaithfulnessRaw {
  const base = raws[0];
  for (const r of raws)
    if (r.entries.length !== base.entries.length || r.entries.some((e, i) => e.key !== base.entries[i].key))
      throw new Error('the partials score different methods');
  const all = raws.flatMap((r, j) => r.positions.map((p, k) => ({ p, j, k }))).sort((a, b) => a.p - b.p);
  const pick = <T>(get: (r: FaithfulnessRaw) => T[]) => all.map(({ j, k }) => get(raws[j])[k]);
  return {
    metrics: base.metrics,
    positions: all.map((a) => a.p),
    indices: pick((r) => r.indices),
    sources: pick((r) => r.sources),
    targets: pick((r) => r.targets),
    ...(base.labels ? { labels: pick((r) => r.labels ?? []) } : {}),
    entries: base.entries.map((e, i) => {
      const error = raws.map((r) => r.entries[i].error).find((x) => x !== undefined);
      const { error: _, ...rest } = e;
      return {
        ...rest,
        ...(error ? { error } : {}),
        warnings: raws.reduce((s, r) => s + r.entries[i].warnings, 0),
        values: Object.fromEntries(
          Object.keys(e.values).map((id) => [id, pick((r) => r.entries[i].values[id])]),
        ),
        ms: pick((r) => r.entries[i].ms),
      };
    }),
  };
}

/** The merge of kind 'faithfulness' for `convlens merge` (registered in tasks/merge.ts). */
export const faithfulnessMerger: PartialMerger<FaithfulnessMerged> = {
  async load(p) {
    const raw = p.json.raw as FaithfulnessRaw;
    const timing = await readFile(join(p.dir, TIMING_FILE), 'utf8')
      .then((t) => JSON.parse(t) as { ms: Record<string, (number | null)[]> })
      .catch(() => undefined);
    const n = raw.positions.length;
    for (const e of raw.entries)
      e.ms = timing?.ms[e.key]?.length === n ? timing.ms[e.key] : new Array(n).fill(null);
    return { key: p.json.key as FaithfulnessKey, raw };
  },
  fold(a, b) {
    if (JSON.stringify(a.key) !== JSON.stringify(b.key))
      throw new Error('faithfulness partials of other options');
    return { key: a.key, raw: mergeRaw([a.raw, b.raw]) };
  },
  async write(merged, envelope, out) {
    const complete = missingOf(envelope).length === 0;
    const files = [PARTIAL_FILE, TIMING_FILE];
    await writeShardDir(out, merged, envelope, async (dir) => {
      if (!complete) return;
      const report = faithfulnessReport(merged.key, merged.raw, 0, envelope.shardCount);
      await writeJsonAtomic(join(dir, 'faithfulness.json'), report);
      await writeJsonAtomic(join(dir, 'index.json'), {
        kind: 'faithfulness',
        shards: envelope.shardCount,
        files: ['faithfulness.json', 'faithfulness.md'],
      });
      await writeFileAtomic(join(dir, 'faithfulness.md'), formatFaithfulnessMarkdown(report));
      files.push('faithfulness.json', 'faithfulness.md', 'index.json');
    });
    return { images: merged.raw.positions.length, files };
  },
};

/** The table a merged folder holds (for the CLI's printout). */
export async function readFaithfulnessReport(dir: string): Promise<FaithfulnessReport> {
  return JSON.parse(await readFile(join(dir, 'faithfulness.json'), 'utf8'));
}

/**
 * `faithfulness merge PARTIAL... --out DIR`: the partials (folders, partial.json files, folders of shard
 * folders) checked against each other (partial.ts), folded in the order found, written to `out`.
 */
export async function faithfulnessMergeCommand(
  paths: string[],
  o: { out: string; allowMissing?: boolean },
): Promise<{ complete: boolean; shards: number[]; shardCount: number; report?: FaithfulnessReport }> {
  if (paths.length === 0) throw new Error('faithfulness merge: give the partials to merge');
  const seen: { file: string; envelope: PartialEnvelope }[] = [];
  let merged: FaithfulnessMerged | undefined;
  for (const path of await findPartials(paths)) {
    const p = await readPartial(path);
    if (p.envelope.kind !== 'faithfulness')
      throw new Error(`${path}: a ${p.envelope.kind} partial, not faithfulness (use convlens merge)`);
    seen.push({ file: path, envelope: p.envelope });
    checkMergeable(seen, { allowMissing: true });
    const body = await faithfulnessMerger.load(p);
    merged = merged ? await faithfulnessMerger.fold(merged, body) : body;
  }
  const envelope = checkMergeable(seen, { allowMissing: o.allowMissing });
  await faithfulnessMerger.write(merged!, envelope, o.out, () => {});
  const complete = missingOf(envelope).length === 0;
  return {
    complete,
    shards: envelope.shards,
    shardCount: envelope.shardCount,
    ...(complete ? { report: await readFaithfulnessReport(o.out) } : {}),
  };
}
