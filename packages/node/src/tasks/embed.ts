/**
 * The feature-space map job: a features folder (convlens features) → a seeded 2-D embedding (PCA always,
 * UMAP on request) with how well classes separate in the map and in the full space, a scatter plot
 * coloured by class, a map of thumbnails at their positions, an atlas of every point's thumbnail (for
 * the explorer's hover), and the nearest neighbours of chosen images shown as images.
 */
import { join, resolve } from 'node:path';
import {
  EMBED_METHODS,
  type Embedding,
  type EmbedMethod,
  embed2d,
  embeddingQuality,
} from '@convlens/core/embed/embed';
import { type Metric, nearestNeighbors, rowNorms } from '@convlens/core/embed/neighbors';
import type { SeparationScore } from '@convlens/core/embed/quality';
import { checkStop, type JobHooks } from '@convlens/core/jobs/job';
import { encodeNpy } from '@convlens/core/methods/actmax/npy';
import type { RGBAImage } from '@convlens/core/render/image';
import { openThumbnails, type ThumbnailOptions } from '../features/feature-images.ts';
import { type Features, readFeatures } from '../features/read-features.ts';
import { atlas, neighborsRow, scatterSvg, svgToPng, thumbnailMap } from '../figures/feature-map.ts';
import { checkOutDir, type FigureEntry } from '../figures/figure-set.ts';
import { writeDirAtomic, writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { encodePng, labelledPanel } from '../io/png.ts';

export const EMBEDDING_FORMAT = 'convlens-embedding';

export interface EmbedOptions {
  /** A features folder, or features already in memory (the lab's). */
  features: string | Features;
  out: string;
  /** Default umap (PCA is always computed and drawn too). */
  method?: EmbedMethod;
  seed?: number;
  /** At most this many points (default 2,000): evenly spaced rows, so every class keeps its share. */
  limit?: number;
  /** Images whose nearest neighbours to show: row indices or file names as in labels.csv. */
  neighbors?: (string | number)[];
  /** Neighbours per image (default 8). */
  k?: number;
  /** Default cosine. */
  metric?: Metric;
  /** Draw thumbnails (needs the model and images of the features folder; default true). */
  thumbnails?: boolean;
  /** Thumbnail side in pixels (default 32). */
  thumbSize?: number;
  thumbnailSource?: ThumbnailOptions;
  /** Scatter plot size in pixels (default 680 × 520). */
  scatterSize?: [number, number];
  /** Rows of the thumbnail map (default 18; 24 columns). */
  mapRows?: number;
}

export interface NeighborRow {
  row: number;
  file: string;
  label: number;
  neighbors: { row: number; file: string; label: number; distance: number }[];
  figure?: string;
}

export interface EmbedSummary {
  out: string;
  layer: string;
  method: EmbedMethod;
  seed: number;
  points: number;
  features: number;
  /** 5-NN leave-one-out accuracy: in the map (chosen method), in PCA's map, in the full space. */
  quality: { map: SeparationScore | null; pca: SeparationScore | null; full: SeparationScore | null };
  /** PCA's two components' shares of the variance. */
  explained: number[];
  seconds: { pca: number; embed: number; quality: number; figures: number };
  neighbors: NeighborRow[];
  files: string[];
}

/** Evenly spaced rows (all when n ≤ limit). */
function pick(n: number, limit: number): number[] {
  if (n <= limit) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: limit }, (_, i) => Math.floor((i * n) / limit));
}

/** A row given by index or by its file (labels.csv's file column). */
export function resolveRow(f: Features, q: string | number): number {
  if (typeof q === 'number' || /^\d+$/.test(q)) {
    const i = Number(q);
    if (i >= f.n)
      throw new Error(`--neighbors ${q}: index out of range (the features have ${f.n} rows, 0–${f.n - 1})`);
    return i;
  }
  const i = f.files.indexOf(q);
  if (i < 0) throw new Error(`--neighbors ${q}: no such file in the features' labels.csv`);
  return i;
}

const methodName = (m: EmbedMethod) => ({ pca: 'PCA', umap: 'UMAP', tsne: 't-SNE' })[m];
const pct = (s: SeparationScore | null) => (s ? `${(100 * s.accuracy).toFixed(1)}%` : 'n/a');

export async function embedFeatures(o: EmbedOptions, hooks: JobHooks = {}): Promise<EmbedSummary> {
  const method = o.method ?? 'umap';
  if (!EMBED_METHODS.includes(method))
    throw new Error(`--method ${method}: unknown (expected one of: ${EMBED_METHODS.join(', ')})`);
  const seed = o.seed ?? 1;
  const k = o.k ?? 8;
  if (!(Number.isInteger(k) && k >= 1)) throw new Error(`--k ${k}: must be a positive integer`);
  if (typeof o.features === 'string' && resolve(o.features) === resolve(o.out))
    throw new Error(`--out ${o.out}: is the features folder itself; choose another folder`);
  await checkOutDir(o.out);
  const f = typeof o.features === 'string' ? await readFeatures(o.features) : o.features;
  if (f.n < 3) throw new Error(`features: ${f.n} rows; a map needs at least 3`);
  const queries = (o.neighbors ?? []).map((q) => resolveRow(f, q));
  const log = (s: string) => hooks.log?.(s);

  // The points mapped: a subsample of rows (queries always kept, so their neighbours are shown in the map).
  const rows = [...new Set([...pick(f.n, o.limit ?? 2000), ...queries])].sort((a, b) => a - b);
  const n = rows.length;
  const F = f.f;
  const x = new Float32Array(n * F);
  for (const [i, r] of rows.entries()) x.set(f.features.subarray(r * F, (r + 1) * F), i * F);
  const labels = Int32Array.from(rows, (r) => f.labels[r]);
  const layer = f.index.layer;
  log(
    `embed: ${n} of ${f.n} rows × ${F} features of ${layer} (${f.index.pool}); ${methodName(method)}, seed ${seed}`,
  );

  let t = performance.now();
  const pcaMap = embed2d(x, n, F, 'pca', seed);
  const tPca = (performance.now() - t) / 1000;
  checkStop(hooks, 'embed');
  t = performance.now();
  const chosen: Embedding = method === 'pca' ? pcaMap : embed2d(x, n, F, method, seed, hooks);
  const tEmbed = method === 'pca' ? tPca : (performance.now() - t) / 1000;
  checkStop(hooks, 'embed');
  t = performance.now();
  const q = embeddingQuality(x, n, F, chosen.coords, labels, seed);
  const qPca = method === 'pca' ? q.map : embeddingQuality(x, n, F, pcaMap.coords, labels, seed).map;
  const tQuality = (performance.now() - t) / 1000;
  const explained = pcaMap.explained ?? [];

  // Neighbours are searched among all rows of the folder, not only the mapped ones.
  const norms = rowNorms(f.features, f.n, F);
  const metric = o.metric ?? 'cosine';
  const neighborRows: NeighborRow[] = queries.map((r) => ({
    row: r,
    file: f.files[r],
    label: f.labels[r],
    neighbors: nearestNeighbors(f.features, f.n, F, r, k, metric, norms).map((nb) => ({
      row: nb.index,
      file: f.files[nb.index],
      label: f.labels[nb.index],
      distance: nb.distance,
    })),
  }));

  t = performance.now();
  const classNames = f.index.classNames;
  const className = (l: number) => (l < 0 ? 'unlabelled' : (classNames[l] ?? String(l)));
  const what = `${layer} (${f.index.pool}, ${F} features)`;
  // Short enough for a 560-px small multiple; PCA's variance shares are on its axes.
  const sub = (s: SeparationScore | null) =>
    `${n} images · 5-NN accuracy: map ${pct(s)}, all ${F}-D ${pct(q.full)}` +
    (s ? `, chance ${(100 * s.chance).toFixed(0)}%` : '');
  const axes = (m: EmbedMethod) =>
    m === 'pca'
      ? [
          `PC1 (${(100 * (explained[0] ?? 0)).toFixed(1)}% of variance)`,
          `PC2 (${(100 * (explained[1] ?? 0)).toFixed(1)}% of variance)`,
        ]
      : [`${methodName(m)} 1`, `${methodName(m)} 2`];
  const scatter = (m: EmbedMethod, e: Embedding, s: SeparationScore | null) => {
    const [xl, yl] = axes(m);
    return scatterSvg({
      coords: e.coords,
      labels,
      classNames,
      title: `${methodName(m)} of ${what}`,
      subtitle: sub(s),
      xLabel: xl,
      yLabel: yl,
      width: o.scatterSize?.[0],
      height: o.scatterSize?.[1],
    });
  };
  const entries: FigureEntry[] = [];
  const out: { name: string; data: string | Uint8Array }[] = [];
  const svg = scatter(method, chosen, q.map);
  out.push(
    { name: `scatter-${method}.svg`, data: svg },
    { name: `scatter-${method}.png`, data: await svgToPng(svg) },
  );
  entries.push({ file: `scatter-${method}.png`, kind: 'scatter', layer, method });
  if (method !== 'pca') {
    const svgP = scatter('pca', pcaMap, qPca);
    out.push(
      { name: 'scatter-pca.svg', data: svgP },
      { name: 'scatter-pca.png', data: await svgToPng(svgP) },
    );
    entries.push({ file: 'scatter-pca.png', kind: 'scatter', layer, method: 'pca' });
  }

  let thumbnails: { file: string; size: number; columns: number } | undefined;
  if (o.thumbnails !== false) {
    const size = o.thumbSize ?? 32;
    const src = await openThumbnails(f.index, f.files, { log, ...o.thumbnailSource });
    try {
      // One read of every mapped row and the neighbours' rows, in chunks (progress, stop).
      const need = [
        ...new Set([...rows, ...neighborRows.flatMap((r) => r.neighbors.map((nb) => nb.row))]),
      ].sort((a, b) => a - b);
      const thumbOf = new Map<number, RGBAImage>();
      for (let s = 0; s < need.length; s += 256) {
        checkStop(hooks, 'embed');
        const part = need.slice(s, s + 256);
        for (const [j, img] of (await src.read(part, size)).entries()) thumbOf.set(part[j], img);
        hooks.onProgress?.(Math.min(s + 256, need.length), need.length, { phase: 'thumbnails' });
      }
      const columns = Math.ceil(Math.sqrt(n));
      out.push({
        name: 'thumbnails.png',
        data: await encodePng(
          atlas(
            rows.map((r) => thumbOf.get(r)!),
            columns,
          ),
        ),
      });
      thumbnails = { file: 'thumbnails.png', size, columns };
      const tm = thumbnailMap(chosen.coords, labels, (i) => thumbOf.get(rows[i])!, {
        tile: size,
        rows: o.mapRows,
      });
      const titled = await labelledPanel(tm.image, {
        title: `${methodName(method)} of ${what}: each cell shows the image nearest its centre`,
        caption: ['frames coloured by class (the scatter plot’s legend)'],
      });
      out.push({ name: `thumbnail-map-${method}.png`, data: await encodePng(titled) });
      entries.push({ file: `thumbnail-map-${method}.png`, kind: 'thumbnail-map', layer, method });
      // Neighbour rows at a readable size (digits ×2, photos at 64 px).
      const big = Math.max(64, size);
      const shown = [...new Set(neighborRows.flatMap((r) => [r.row, ...r.neighbors.map((nb) => nb.row)]))];
      const bigThumbs = await src.read(shown, big);
      const bigOf = new Map<number, RGBAImage>(shown.map((r, j) => [r, bigThumbs[j]]));
      for (const nr of neighborRows) {
        const img = await neighborsRow(
          { image: bigOf.get(nr.row)!, caption: [`#${nr.row}`, className(nr.label)] },
          nr.neighbors.map((nb) => ({
            image: bigOf.get(nb.row)!,
            caption: [
              `${className(nb.label)}${nb.label === nr.label && nb.label >= 0 ? ' ✓' : ''}`,
              `d=${nb.distance.toPrecision(3)}`,
            ],
          })),
          `Nearest neighbours of image #${nr.row} in ${layer} (${metric})`,
        );
        nr.figure = `neighbors-${nr.row}.png`;
        out.push({ name: nr.figure, data: await encodePng(img) });
        entries.push({ file: nr.figure, kind: 'neighbors', layer, row: nr.row });
      }
    } finally {
      src.dispose();
    }
  }
  const tFigures = (performance.now() - t) / 1000;

  const coords2 = new Float32Array(chosen.coords);
  const toPairs = (c: Float64Array) => Array.from({ length: n }, (_, i) => [c[2 * i], c[2 * i + 1]]);
  const embedding = {
    format: EMBEDDING_FORMAT,
    version: 1,
    features: {
      dir: typeof o.features === 'string' ? o.features : null,
      model: f.index.model,
      layer,
      pool: f.index.pool,
      shape: [f.n, F],
      dataset: f.index.dataset,
    },
    method,
    seed,
    metric,
    classNames,
    rows,
    labels: Array.from(labels),
    files: rows.map((r) => f.files[r]),
    coordinates: toPairs(chosen.coords),
    pca: { coordinates: method === 'pca' ? undefined : toPairs(pcaMap.coords), explained },
    quality: { map: q.map, pca: qPca, full: q.full, measure: 'leave-one-out 5-NN accuracy (euclidean)' },
    neighbors: neighborRows,
    thumbnails: thumbnails ?? null,
  };
  await writeDirAtomic(o.out, async (dir) => {
    for (const file of out) await writeFileAtomic(join(dir, file.name), file.data);
    await writeFileAtomic(join(dir, 'embedding.npy'), encodeNpy(coords2, [n, 2]));
    await writeJsonAtomic(join(dir, 'embedding.json'), embedding);
    await writeJsonAtomic(join(dir, 'index.json'), {
      format: 'convlens-embedding-figures',
      embedding: 'embedding.json',
      files: entries,
    });
  });
  return {
    out: o.out,
    layer,
    method,
    seed,
    points: n,
    features: F,
    quality: { map: q.map, pca: qPca, full: q.full },
    explained,
    seconds: { pca: tPca, embed: tEmbed, quality: tQuality, figures: tFigures },
    neighbors: neighborRows,
    files: ['embedding.json', 'embedding.npy', ...out.map((x) => x.name)],
  };
}
