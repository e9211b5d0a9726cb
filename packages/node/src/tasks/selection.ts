/**
 * The images a dataset-wide job covers, in the order its shards divide: all of them, or with --limit N
 * the first N of an IDX set and N evenly spaced ones of an image folder (folders are sorted by class,
 * so every class stays in).
 */
import type { OpenedDataset } from '../open/open-dataset.ts';

export function selectImages(d: OpenedDataset, limit?: number): { indices: Uint32Array; name: string } {
  if (limit === undefined || limit >= d.count)
    return { indices: Uint32Array.from({ length: d.count }, (_, i) => i), name: d.name };
  if (d.kind === 'idx')
    return { indices: Uint32Array.from({ length: limit }, (_, i) => i), name: `${d.name} (first ${limit})` };
  return {
    indices: Uint32Array.from({ length: limit }, (_, i) => Math.floor((i * d.count) / limit)),
    name: `${d.name} (${limit} evenly spaced)`,
  };
}
