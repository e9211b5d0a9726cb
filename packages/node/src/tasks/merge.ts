/**
 * `convlens merge`: the registry of partial mergers by kind (one line per sharded job) and the merge
 * job, which detects the kind from the partials' envelopes (tasks/partial.ts).
 */
import type { JobHooks } from '@convlens/core/jobs/job';
import { explainMerger } from './explain-dataset.ts';
import { faithfulnessMerger } from './faithfulness-merge.ts';
import { type MergeOptions, type MergeSummary, mergePartials } from './merge-partials.ts';
import type { PartialMerger } from './partial.ts';
import { statsMerger } from './stats.ts';

const MERGERS: Record<string, PartialMerger<any>> = {
  stats: statsMerger,
  explain: explainMerger,
  faithfulness: faithfulnessMerger,
};

export const mergeKinds = () => Object.keys(MERGERS);

/** Merges the partials named by `paths` (partial folders, partial.json files, folders of partial folders). */
export async function mergeCommand(
  paths: string[],
  o: MergeOptions,
  hooks: JobHooks = {},
): Promise<MergeSummary> {
  if (paths.length === 0) throw new Error('merge: give the partials to merge (folders of shard outputs)');
  const { summary } = await mergePartials(
    paths,
    (kind, file) => {
      const m = MERGERS[kind];
      if (!m) throw new Error(`${file}: no merge for '${kind}' partials (known: ${mergeKinds().join(', ')})`);
      return m;
    },
    o,
    hooks,
  );
  return summary;
}
