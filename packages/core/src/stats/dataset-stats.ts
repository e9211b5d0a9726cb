/**
 * All dataset statistics of one model over one dataset (or a shard of it), per probed layer. A
 * partial is self-describing (model fingerprint, layers, shard) so merging refuses partials that do
 * not belong together, and merged shards give exactly the one-pass result.
 */
import type { ProbedLayer } from '../inspect/probe.ts';
import {
  type ClassMaps,
  type ClassMapsJSON,
  classMapsFromJSON,
  classMapsToJSON,
  mergeClassMaps,
} from './class-maps.ts';
import {
  type ClassMeans,
  type ClassMeansJSON,
  classMeansFromJSON,
  classMeansToJSON,
  mergeClassMeans,
} from './class-means.ts';
import {
  type ModeCounts,
  type ModeCountsJSON,
  mergeModeCounts,
  modeCountsFromJSON,
  modeCountsToJSON,
} from './mode-maps.ts';
import { mergeTopK, type TopK, type TopKJSON, topKFromJSON, topKToJSON } from './top-k.ts';

export const STATS_FORMAT = 'convlens-stats';

export interface LayerStats {
  layer: ProbedLayer;
  means: ClassMeans;
  /** Spatial layers only. */
  maps?: ClassMaps;
  modes?: ModeCounts;
  topk: TopK;
}

export interface StatsMeta {
  model: { name: string; fingerprint: string };
  inputShape: [number, number, number];
  numClasses: number;
  classNames?: string[];
  /** Dataset identity (name or folder) the image indices refer to. */
  dataset: string;
  /** Images in the whole dataset the shards divide. */
  datasetSize: number;
  /** Number of shards the dataset was divided into, and which of them (0-based) this result covers. */
  shardCount: number;
  shards: number[];
}

export interface DatasetStats {
  meta: StatsMeta;
  /** Images processed. */
  count: number;
  layers: LayerStats[];
}

export interface DatasetStatsJSON {
  format: typeof STATS_FORMAT;
  version: 1;
  meta: StatsMeta;
  count: number;
  layers: {
    layer: ProbedLayer;
    means: ClassMeansJSON;
    maps?: ClassMapsJSON;
    modes?: ModeCountsJSON;
    topk: TopKJSON;
  }[];
}

export function statsToJSON(s: DatasetStats): DatasetStatsJSON {
  return {
    format: STATS_FORMAT,
    version: 1,
    meta: s.meta,
    count: s.count,
    layers: s.layers.map((l) => ({
      layer: l.layer,
      means: classMeansToJSON(l.means),
      ...(l.maps ? { maps: classMapsToJSON(l.maps) } : {}),
      ...(l.modes ? { modes: modeCountsToJSON(l.modes) } : {}),
      topk: topKToJSON(l.topk),
    })),
  };
}

export function statsFromJSON(j: unknown, where = 'statistics'): DatasetStats {
  const o = j as DatasetStatsJSON;
  if (o?.format !== STATS_FORMAT || o.version !== 1 || !Array.isArray(o.layers) || !o.meta) {
    throw new Error(`${where}: not a convlens statistics file`);
  }
  try {
    return {
      meta: o.meta,
      count: o.count,
      layers: o.layers.map((l) => ({
        layer: l.layer,
        means: classMeansFromJSON(l.means),
        maps: l.maps ? classMapsFromJSON(l.maps) : undefined,
        modes: l.modes ? modeCountsFromJSON(l.modes) : undefined,
        topk: topKFromJSON(l.topk),
      })),
    };
  } catch (err) {
    throw new Error(`${where}: corrupt statistics (${(err as Error).message})`);
  }
}

const layerKey = (l: ProbedLayer) => `${l.name}[${l.shape.join('×')}]`;

/** Why two partials cannot be merged, or undefined when they can. */
export function mergeConflict(a: DatasetStats, b: DatasetStats): string | undefined {
  const ma = a.meta;
  const mb = b.meta;
  if (ma.model.fingerprint !== mb.model.fingerprint || ma.model.name !== mb.model.name) {
    return `different models (${ma.model.name} ${ma.model.fingerprint} vs ${mb.model.name} ${mb.model.fingerprint})`;
  }
  const la = a.layers.map((l) => layerKey(l.layer)).join(', ');
  const lb = b.layers.map((l) => layerKey(l.layer)).join(', ');
  if (la !== lb) return `different layer sets (${la} vs ${lb})`;
  if (ma.dataset !== mb.dataset || ma.datasetSize !== mb.datasetSize) {
    return `different datasets (${ma.dataset}, ${ma.datasetSize} images vs ${mb.dataset}, ${mb.datasetSize} images)`;
  }
  if (ma.numClasses !== mb.numClasses) return `different class counts (${ma.numClasses} vs ${mb.numClasses})`;
  if (ma.shardCount !== mb.shardCount) return `different shardings (/${ma.shardCount} vs /${mb.shardCount})`;
  const dup = ma.shards.find((s) => mb.shards.includes(s));
  if (dup !== undefined) return `shard ${dup + 1}/${ma.shardCount} appears in both`;
  for (let i = 0; i < a.layers.length; i++) {
    const x = a.layers[i];
    const y = b.layers[i];
    if (x.topk.k !== y.topk.k) return `different top-k (k ${x.topk.k} vs ${y.topk.k})`;
    if (!!x.maps !== !!y.maps || !!x.modes !== !!y.modes)
      return `layer ${x.layer.name}: different statistics kept`;
  }
  return undefined;
}

/** Merges two partials (disjoint shards of the same dataset, same model and layers). */
export function mergeStats(a: DatasetStats, b: DatasetStats): DatasetStats {
  const conflict = mergeConflict(a, b);
  if (conflict) throw new Error(`cannot merge statistics: ${conflict}`);
  return {
    meta: { ...a.meta, shards: [...a.meta.shards, ...b.meta.shards].sort((x, y) => x - y) },
    count: a.count + b.count,
    layers: a.layers.map((x, i) => {
      const y = b.layers[i];
      return {
        layer: x.layer,
        means: mergeClassMeans(x.means, y.means),
        maps: x.maps && y.maps ? mergeClassMaps(x.maps, y.maps) : undefined,
        modes: x.modes && y.modes ? mergeModeCounts(x.modes, y.modes) : undefined,
        topk: mergeTopK(x.topk, y.topk),
      };
    }),
  };
}

/** The shards still missing for the whole dataset (0-based). */
export function missingShards(s: DatasetStats): number[] {
  return Array.from({ length: s.meta.shardCount }, (_, i) => i).filter((i) => !s.meta.shards.includes(i));
}

/** Image index range [start, end) of shard i (0-based) of n over `size` images: contiguous, near-equal. */
export function shardRange(size: number, index: number, count: number): [number, number] {
  if (!(Number.isInteger(count) && count >= 1 && Number.isInteger(index) && index >= 0 && index < count)) {
    throw new Error(`shard ${index + 1}/${count} is out of range`);
  }
  return [Math.floor((size * index) / count), Math.floor((size * (index + 1)) / count)];
}
