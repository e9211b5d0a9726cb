/**
 * The batch form of `convlens explain`: `--dataset DIR|NAME` without --index explains every image (or
 * --limit of them, or one --shard) into map files plus one index.json (tasks/explain-dataset.ts). Flags
 * and printing only; `convlens merge` joins the shards.
 */
import { explainMethods, getExplainMethod } from '@convlens/core/methods/explain/registry';
import type { ExplainMethod } from '@convlens/core/methods/explain/types';
import type { Command } from 'commander';
import { openDataset } from '../open/open-dataset.ts';
import type { OpenedModel } from '../open/open-model.ts';
import { type ExplainDatasetSummary, explainDataset } from '../tasks/explain-dataset.ts';
import type { Shard } from '../tasks/shard.ts';
import { log } from './common.ts';
import { type MethodOptionFlags, methodOptions } from './method-options.ts';
import { asJob, shardOption } from './model-job.ts';
import { type DatasetFlags, openDatasetOptions } from './model-options.ts';
import { positiveInt } from './options.ts';

/** The batch method when --method is not given: 'all' over thousands of images would take days. */
const BATCH_DEFAULT = 'gradcam';

export interface BatchExplainFlags extends DatasetFlags, MethodOptionFlags {
  image?: string;
  index?: number;
  method: string;
  methods?: string;
  layer?: string;
  class: string;
  top: number;
  limit?: number;
  shard?: Shard;
  out: string;
  json?: boolean;
}

export const batchExplainOptions = (cmd: Command) =>
  cmd
    .option('--methods <ids>', 'same as --method')
    .option(
      '--limit <n>',
      'batch (--dataset without --index): only N images (the first N of an IDX set, N evenly spaced of a folder)',
      positiveInt('--limit'),
    )
    .option(
      '--shard <i/n|auto>',
      'batch: explain shard i of n (auto: the Slurm array task or Indexed Job pod); join with `convlens merge`',
      shardOption,
    );

/** --dataset without --index or --image: every image of the dataset. */
export const isBatchExplain = (o: BatchExplainFlags) =>
  o.dataset !== undefined && o.index === undefined && o.image === undefined;

/** Single inputs: batch-only flags refused, --methods read as --method. */
export function checkSingleFlags(o: BatchExplainFlags): void {
  if (o.limit !== undefined || o.shard !== undefined)
    throw new Error('--limit and --shard go with --dataset alone (batch explain), not --index or --image');
  if (o.methods !== undefined) o.method = o.methods;
}

function batchMethods(o: BatchExplainFlags, methodGiven: boolean): ExplainMethod[] {
  const spec = o.methods ?? (methodGiven ? o.method : BATCH_DEFAULT);
  return spec === 'all' ? explainMethods() : spec.split(',').map((id) => getExplainMethod(id.trim()));
}

export function formatExplainDataset(s: ExplainDatasetSummary): string {
  return s.skipped
    ? `explain: shard ${s.shards} already finished in ${s.out} (${s.images} images); nothing recomputed`
    : `explained ${s.images} images (shard ${s.shards}) with ${s.methods.join(', ')} in ${s.seconds.toFixed(1)} s ` +
        `(${(s.imagesPerSecond || 0).toFixed(1)} img/s) → ${s.out}/index.json, maps in ${s.out}/maps` +
        `${s.unreadable ? `; ${s.unreadable} unreadable image(s) skipped` : ''}`;
}

/** Runs batch explain for the opened model and prints its summary. */
export async function runBatchExplain(o: BatchExplainFlags, model: OpenedModel, methodGiven: boolean) {
  const methods = batchMethods(o, methodGiven);
  const dataset = await openDataset(o.dataset, model, openDatasetOptions(o, log));
  const s = await asJob('explain', 'img', (job) =>
    explainDataset(
      {
        model,
        dataset,
        methods,
        layer: o.layer,
        methodOptions: methodOptions(o),
        class: o.class,
        top: o.top,
        limit: o.limit,
        shard: o.shard,
        out: o.out,
      },
      job,
    ),
  );
  process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatExplainDataset(s)}\n`);
}
