/**
 * `convlens stats`: class means, per-class mean maps, mode maps and top-k over a dataset (or one
 * shard of it), streamed batch by batch; `convlens stats merge` folds shard partials into the
 * one-pass result. Every output directory holds partial.json (mergeable), the figures and index.json.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { batchIterator } from '@convlens/core/data/batches';
import { takeFirst } from '@convlens/core/data/split';
import { type BackendName, initBackend } from '@convlens/core/engine/backend';
import { classOrderedBatches, cropFromSet, StatsCollector } from '@convlens/core/stats/collector';
import {
  type DatasetStats,
  mergeStats,
  missingShards,
  shardRange,
  statsFromJSON,
  statsToJSON,
} from '@convlens/core/stats/dataset-stats';
import { writeDirAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { loadRun } from '../train/load-run.ts';
import { checkOutDir, FigureSet } from './inside-figures.ts';
import { loadEvalSet } from './inside-input.ts';
import { renderStats } from './inside-stats-render.ts';
import { progressBar } from './progress.ts';

export interface StatsOptions {
  run: string;
  dataset?: string;
  dataDir?: string;
  download?: boolean;
  limit?: number;
  shard?: { index: number; count: number };
  layers?: string[];
  modeLayers?: string[];
  topK: number;
  batchSize: number;
  out: string;
  backend: BackendName;
}

export interface StatsSummary {
  out: string;
  images: number;
  seconds: number;
  imagesPerSecond: number;
  shards: string;
  layers: { layer: string; shape: number[]; modeMaps: boolean; classMaps: boolean }[];
  files: string[];
}

/** Parses --shard i/n (1-based i). */
export function parseShard(v: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  const i = m ? Number(m[1]) : Number.NaN;
  const n = m ? Number(m[2]) : Number.NaN;
  if (!m || n < 1 || i < 1 || i > n) throw new Error(`--shard must be i/n with 1 ≤ i ≤ n, got '${v}'`);
  return { index: i - 1, count: n };
}

export async function statsCommand(o: StatsOptions, log: (s: string) => void): Promise<StatsSummary> {
  await checkOutDir(o.out);
  await initBackend(o.backend);
  const run = await loadRun(o.run);
  try {
    const { name, set: full } = await loadEvalSet(run, o, log);
    const set = o.limit !== undefined ? takeFirst(full, o.limit) : full;
    const shard = o.shard ?? { index: 0, count: 1 };
    const [start, end] = shardRange(set.count, shard.index, shard.count);
    if (end <= start)
      throw new Error(`shard ${shard.index + 1}/${shard.count} of ${set.count} images is empty`);
    const collector = new StatsCollector(run.model, {
      numClasses: run.config.numClasses,
      layers: o.layers,
      modeLayers: o.modeLayers,
      k: o.topK,
      source: {
        dataset: o.limit !== undefined ? `${name} (first ${set.count})` : name,
        datasetSize: set.count,
        shardCount: shard.count,
        shards: [shard.index],
        classNames: run.classNames,
      },
      crop: cropFromSet(set),
    });
    const indices = Uint32Array.from({ length: end - start }, (_, i) => start + i);
    log(
      `stats: ${run.model.name} on ${name} images ${start}–${end - 1}` +
        `${shard.count > 1 ? ` (shard ${shard.index + 1}/${shard.count})` : ''}; layers ${collector.layers.map((l) => l.name).join(', ')}`,
    );
    const bar = progressBar('stats', indices.length, 'img');
    const t0 = performance.now();
    let done = 0;
    try {
      const scaling = {
        scaling: run.standardizer ? 'standardize' : 'unit',
        standardizer: run.standardizer,
      } as const;
      // One class per batch: the per-class sums are then a single pooling op (see classOrderedBatches).
      for (const idx of classOrderedBatches(set.labels, indices, o.batchSize)) {
        for (const b of batchIterator(set, idx, o.batchSize, scaling)) {
          await collector.add(b);
          done += b.size;
          bar.update(done);
        }
      }
    } finally {
      bar.stop();
    }
    const seconds = (performance.now() - t0) / 1000;
    const stats = collector.result();
    const files = await writeStatsDir(o.out, stats, { command: 'stats', run: o.run }, log);
    return {
      out: o.out,
      images: stats.count,
      seconds,
      imagesPerSecond: stats.count / seconds,
      shards: `${stats.meta.shards.map((s) => s + 1).join(',')}/${stats.meta.shardCount}`,
      layers: stats.layers.map((l) => ({
        layer: l.layer.name,
        shape: l.layer.shape,
        modeMaps: !!l.modes,
        classMaps: !!l.maps,
      })),
      files,
    };
  } finally {
    run.model.dispose();
  }
}

/** Writes partial.json, the figures and index.json into `out`, atomically. */
async function writeStatsDir(
  out: string,
  stats: DatasetStats,
  about: Record<string, unknown>,
  log: (s: string) => void,
): Promise<string[]> {
  const missing = missingShards(stats);
  if (missing.length) {
    log(
      `notice: partial result, shards ${missing.map((s) => `${s + 1}/${stats.meta.shardCount}`).join(', ')} not included`,
    );
  }
  let files: string[] = [];
  const t0 = performance.now();
  await writeDirAtomic(out, async (dir) => {
    await writeJsonAtomic(join(dir, 'partial.json'), statsToJSON(stats));
    const t1 = performance.now();
    const figs = new FigureSet(dir);
    await renderStats(stats, figs);
    log(
      `wrote partial.json in ${((t1 - t0) / 1000).toFixed(1)} s, ${figs.entries.length} figures in ${((performance.now() - t1) / 1000).toFixed(1)} s`,
    );
    files = ['partial.json', ...figs.entries.map((e) => e.file), 'index.json'];
    await writeJsonAtomic(join(dir, 'index.json'), {
      ...about,
      model: stats.meta.model,
      dataset: stats.meta.dataset,
      images: stats.count,
      shards: stats.meta.shards.map((s) => s + 1),
      shardCount: stats.meta.shardCount,
      complete: missing.length === 0,
      classNames: stats.meta.classNames,
      partial: { file: 'partial.json', kind: 'mergeable statistics (convlens stats merge)' },
      files: figs.entries,
    });
  });
  return files;
}

async function readPartial(path: string): Promise<DatasetStats> {
  let file = path;
  try {
    if ((await stat(path)).isDirectory()) file = join(path, 'partial.json');
  } catch (err: any) {
    throw new Error(
      `${path}: cannot read partial statistics (${err.code === 'ENOENT' ? 'not found' : err.code})`,
    );
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err: any) {
    throw new Error(
      `${file}: cannot read partial statistics (${err.code === 'ENOENT' ? 'not found' : err.code})`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${file}: not valid JSON (corrupt or truncated)`);
  }
  return statsFromJSON(json, file);
}

export async function statsMergeCommand(
  partials: string[],
  o: { out: string },
  log: (s: string) => void,
): Promise<StatsSummary> {
  if (partials.length < 2) throw new Error('stats merge needs at least two partials');
  await checkOutDir(o.out);
  const t0 = performance.now();
  let merged = await readPartial(partials[0]);
  for (const p of partials.slice(1)) {
    const next = await readPartial(p);
    try {
      merged = mergeStats(merged, next);
    } catch (err) {
      throw new Error(`${p}: ${(err as Error).message}`);
    }
  }
  const files = await writeStatsDir(o.out, merged, { command: 'stats merge', partials }, log);
  const seconds = (performance.now() - t0) / 1000;
  return {
    out: o.out,
    images: merged.count,
    seconds,
    imagesPerSecond: merged.count / seconds,
    shards: `${merged.meta.shards.map((s) => s + 1).join(',')}/${merged.meta.shardCount}`,
    layers: merged.layers.map((l) => ({
      layer: l.layer.name,
      shape: l.layer.shape,
      modeMaps: !!l.modes,
      classMaps: !!l.maps,
    })),
    files,
  };
}

export function formatStats(s: StatsSummary): string {
  return [
    `statistics over ${s.images} images (shards ${s.shards}) in ${s.seconds.toFixed(1)} s (${Math.round(s.imagesPerSecond)} img/s) → ${s.out}`,
    ...s.layers.map(
      (l) =>
        `  ${l.layer.padEnd(10)} [${l.shape.join('×')}]`.padEnd(32) +
        ` class means, top-k${l.classMaps ? ', mean maps' : ''}${l.modeMaps ? ', mode maps' : ''}`,
    ),
    `  files: ${s.files.join(', ')}`,
  ].join('\n');
}
