/**
 * Merges shard partials of one kind with that kind's PartialMerger: partials are read one at a time
 * (load, fold, drop), each envelope checked against the ones before (tasks/partial.ts checkMergeable),
 * missing shards refused at the end unless allowed, and the result written atomically as a partial
 * again, so merges of merges work.
 */
import type { JobHooks } from '@convlens/core/jobs/job';
import { checkStop } from '@convlens/core/jobs/job';
import { checkOutDir } from '../figures/figure-set.ts';
import {
  checkMergeable,
  findPartials,
  missingOf,
  type PartialEnvelope,
  type PartialMerger,
  readPartial,
} from './partial.ts';

export interface MergeOptions {
  out: string;
  /** Write a merge of some shards (an intermediate of a tree of merges) instead of refusing. */
  allowMissing?: boolean;
}

export interface MergeSummary {
  kind: string;
  out: string;
  /** Partials read. */
  partials: number;
  /** Images in the merged result. */
  images: number;
  /** Images the shards divide. */
  datasetImages: number;
  /** e.g. "1,2,3,4/4". */
  shards: string;
  shardCount: number;
  complete: boolean;
  seconds: number;
  files: string[];
}

/** Shards as "1,2,3/4" (1-based). */
export const shardList = (e: Pick<PartialEnvelope, 'shards' | 'shardCount'>) =>
  `${e.shards.map((s) => s + 1).join(',')}/${e.shardCount}`;

/**
 * Merges the partials named by `paths` (partial folders, partial.json files, or folders of partial
 * folders). `mergerOf` picks the merger from the first partial's kind (one line when there is none).
 */
export async function mergePartials<A = unknown>(
  paths: string[],
  mergerOf: (kind: string, file: string) => PartialMerger<A>,
  o: MergeOptions,
  hooks: JobHooks = {},
): Promise<{ summary: MergeSummary; merged: A }> {
  const log = (s: string) => hooks.log?.(s);
  await checkOutDir(o.out);
  const t0 = performance.now();
  const files = await findPartials(paths);
  const seen: { file: string; envelope: PartialEnvelope }[] = [];
  let merger: PartialMerger<A> | undefined;
  let merged: A | undefined;
  for (const [i, path] of files.entries()) {
    checkStop(hooks, 'merge');
    const p = await readPartial(path);
    const next = { file: path, envelope: p.envelope };
    if (seen.length && p.envelope.kind !== seen[0].envelope.kind) checkMergeable([...seen, next]);
    merger ??= mergerOf(p.envelope.kind, path);
    const body = await merger.load(p);
    // The kind's own check first (it names what differs in its terms), then the envelope's.
    try {
      merged = i === 0 ? body : await merger.fold(merged as A, body);
    } catch (err) {
      throw new Error(`${path}: ${(err as Error).message.split('\n')[0]}`);
    }
    seen.push(next);
    checkMergeable(seen, { allowMissing: true });
    hooks.onProgress?.(i + 1, files.length, { partial: path });
  }
  const envelope = checkMergeable(seen, { allowMissing: o.allowMissing });
  const missing = missingOf(envelope);
  if (missing.length)
    log(
      `notice: partial result, shards ${missing.map((s) => `${s + 1}/${envelope.shardCount}`).join(', ')} not included`,
    );
  const w = await merger!.write(merged as A, envelope, o.out, log);
  const summary: MergeSummary = {
    kind: envelope.kind,
    out: o.out,
    partials: files.length,
    images: w.images,
    datasetImages: envelope.dataset.images,
    shards: shardList(envelope),
    shardCount: envelope.shardCount,
    complete: missing.length === 0,
    seconds: (performance.now() - t0) / 1000,
    files: w.files,
  };
  return { summary, merged: merged as A };
}
