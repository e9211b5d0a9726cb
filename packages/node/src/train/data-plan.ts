/**
 * Rebuilds a run's data exactly: the same dataset, seeded split, --limit and standardizer, so
 * training, --resume and evaluate all see the same examples.
 */
import { batchIterator } from '@convlens/core/data/batches';
import { fitStandardizer, type Standardizer, standardizerFromJSON } from '@convlens/core/data/standardize';
import type { DataProvenance, ImageSet } from '@convlens/core/data/types';
import { type LoadedDataset, loadDataset, trainValSplit } from '../data/load.ts';
import type { ResolveOptions } from '../data/resolve.ts';
import type { RunConfig } from './run-dir.ts';

export interface DataPlanOptions extends ResolveOptions {
  dataset: string;
  valFraction: number;
  seed: number;
  limit?: number;
  scaling: 'unit' | 'standardize';
  /** Stored standardizer (resume/evaluate); fitted on the training split when absent. */
  standardizer?: unknown;
}

export interface DataPlan {
  loaded: LoadedDataset;
  train: ImageSet;
  val: ImageSet;
  /** The dataset's own test split; absent when train and val were split from it (then val is the held-out set). */
  test?: ImageSet;
  provenance: DataProvenance;
  standardizer?: Standardizer;
}

export async function planData(opts: DataPlanOptions): Promise<DataPlan> {
  const loaded = await loadDataset(opts.dataset, opts);
  const split = trainValSplit(loaded, { valFraction: opts.valFraction, seed: opts.seed, limit: opts.limit });
  let standardizer: Standardizer | undefined;
  if (opts.scaling === 'standardize') {
    standardizer = opts.standardizer ? standardizerFromJSON(opts.standardizer) : fitStandardizer(split.train);
  }
  return {
    loaded,
    train: split.train,
    val: split.val,
    test: split.test,
    provenance: split.provenance,
    standardizer,
  };
}

/** A run's data as it was trained: its dataset, seeded split, limit and stored standardizer. */
export function planRunData(config: RunConfig, o: ResolveOptions): Promise<DataPlan> {
  return planData({
    ...o,
    dataset: config.dataset,
    valFraction: config.valFraction,
    seed: config.seed,
    limit: config.limit,
    scaling: config.scaling,
    standardizer: config.standardizer,
  });
}

/** Inference batches over a whole set, in order, scaled as the run was trained. */
export function evalBatches(set: ImageSet, batchSize: number, standardizer?: Standardizer) {
  return () =>
    batchIterator(set, undefined, batchSize, {
      scaling: standardizer ? 'standardize' : 'unit',
      standardizer,
    });
}
