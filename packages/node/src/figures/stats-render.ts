/**
 * Figures of dataset statistics: class × filter heatmaps, per-class mean maps, mode maps, top-k galleries.
 * Mean maps and top-k galleries show at most `maxChannels` filters per layer (the first ones).
 */
import { mapToImage, type ValueRange, valueRange } from '@convlens/core/render/colormap';
import { grid, type RGBAImage, upscale } from '@convlens/core/render/image';
import { channel, defaultScale } from '@convlens/core/render/inside-feature-maps';
import { matrixHeatmap, rowArgmax } from '@convlens/core/render/inside-heatmap';
import { colorBar } from '@convlens/core/render/inside-legend';
import { modeFilters, modeMapImage, modeShareImage, swatch } from '@convlens/core/render/inside-mode-map';
import { padTo, patchImage } from '@convlens/core/render/inside-patches';
import { classMeanMatrix } from '@convlens/core/stats/class-means';
import type { DatasetStats, LayerStats } from '@convlens/core/stats/dataset-stats';
import { modeMap } from '@convlens/core/stats/mode-maps';
import { labelledPanel } from '../io/png.ts';
import { type FigureSet, safeName } from './figure-set.ts';
import { labelledGrid, num, rangeText, stack } from './panels.ts';

const classNamesOf = (s: DatasetStats) =>
  s.meta.classNames ?? Array.from({ length: s.meta.numClasses }, (_, i) => String(i));

async function legend(range: ValueRange, what: string): Promise<RGBAImage> {
  return labelledPanel(colorBar('viridis'), {
    caption: [`viridis: ${num(range.min)} … ${num(range.max)} ${what}`],
  });
}

export interface RenderStatsOptions {
  /** Filters per layer in mean-map and top-k figures (default all). */
  maxChannels?: number;
}

/**
 * What the statistics cover, first line of every figure's caption: "2,000 images of DATA, 4 shards
 * merged" (or "shard 2 of 4" for one shard's partial), so a merged result says what it was made of.
 */
export function coverage(s: DatasetStats): string {
  const m = s.meta;
  const n = m.shards.length;
  const sharded =
    m.shardCount <= 1
      ? ''
      : n === m.shardCount
        ? `, ${m.shardCount} shards merged`
        : n === 1
          ? `, shard ${m.shards[0] + 1} of ${m.shardCount} (partial)`
          : `, ${n} of ${m.shardCount} shards merged (partial)`;
  return `${s.count.toLocaleString('en-US')} images of ${m.dataset}${sharded}`;
}

/** Class names in captions: all of a few, the first 20 of many. */
const nameList = (names: string[]) =>
  names.length <= 20 ? names.join(', ') : `${names.slice(0, 20).join(', ')}, … (${names.length} classes)`;

export async function renderStats(
  s: DatasetStats,
  figs: FigureSet,
  o: RenderStatsOptions = {},
): Promise<void> {
  const cap = o.maxChannels ?? Number.POSITIVE_INFINITY;
  for (const l of s.layers) {
    await renderClassMeans(s, l, figs);
    if (l.maps) await renderClassMaps(s, l, figs, cap);
    if (l.modes) await renderModeMaps(s, l, figs);
    await renderTopK(s, l, figs, cap);
  }
}

async function renderClassMeans(s: DatasetStats, l: LayerStats, figs: FigureSet) {
  const names = classNamesOf(s);
  const { numClasses: K, filters: F } = l.means;
  const m = classMeanMatrix(l.means);
  const { image, range, cell } = matrixHeatmap(m, K, F);
  const best = rowArgmax(m, K, F);
  const file = `class-means-${safeName(l.layer.name)}.png`;
  const rows: number[][] = Array.from({ length: K }, (_, c) => Array.from(m.slice(c * F, (c + 1) * F)));
  await figs.png(
    {
      file,
      kind: 'class-means',
      layer: l.layer.name,
      rows: 'classes',
      columns: 'filters',
      classes: names,
      counts: l.means.counts,
      range,
      means: rows,
      strongestFilter: best,
    },
    await labelledPanel(stack([image, await legend(range, 'mean activation')]), {
      title: `${l.layer.name}: mean activation per class (rows) × ${l.layer.spatial ? 'filter' : 'unit'} (columns)`,
      caption: [
        coverage(s),
        `rows top→bottom: classes ${nameList(names)} · ${cell}px per cell · range ${rangeText(range)}`,
        `strongest ${l.layer.spatial ? 'filter' : 'unit'} per class: ${best
          .slice(0, 20)
          .map((b, c) => `${names[c]}→${b}`)
          .join(' ')}${best.length > 20 ? ' …' : ''}`,
      ],
      minWidth: 480,
    }),
  );
}

async function renderClassMaps(s: DatasetStats, l: LayerStats, figs: FigureSet, cap: number) {
  const maps = l.maps!;
  const { height: h, width: w, filters: all, numClasses: K } = maps;
  const F = Math.min(all, cap);
  const names = classNamesOf(s);
  // Means of the drawn filters only (NHWC within a class), on their shared range.
  const cell = h * w * F;
  const means = new Float32Array(K * cell);
  for (let c = 0; c < K; c++)
    for (let p = 0; p < h * w; p++)
      for (let f = 0; f < F; f++)
        means[c * cell + p * F + f] = maps.sums[(c * h * w + p) * all + f] / maps.counts[c];
  const range = valueRange(means);
  const scale = Math.max(1, Math.min(defaultScale(h, w, 48), Math.floor(2400 / (F * (w + 1)))));
  const rows = await Promise.all(
    Array.from({ length: K }, (_, c) => {
      const tiles = Array.from({ length: F }, (_, f) =>
        upscale(
          mapToImage(channel(means.subarray(c * cell, (c + 1) * cell), h * w, F, f), w, h, { range }),
          scale,
        ),
      );
      return labelledPanel(grid(tiles, { columns: F, gap: 1, background: [255, 255, 255, 255] }), {
        title: `class ${names[c]} (${maps.counts[c]} images)`,
        fontSize: 10,
      });
    }),
  );
  const file = `class-maps-${safeName(l.layer.name)}.png`;
  await figs.png(
    {
      file,
      kind: 'class-mean-maps',
      layer: l.layer.name,
      rows: 'classes',
      columns: 'filters 0…F−1',
      shape: [K, all, h, w],
      ...(F < all ? { shown: F } : {}),
      range,
    },
    await labelledPanel(stack([...rows, await legend(range, 'mean activation')], 4), {
      title: `${l.layer.name}: per-class mean feature maps (rows: classes, columns: filters 0–${F - 1}${F < all ? ` of ${all}` : ''})`,
      caption: [
        coverage(s),
        `shared range ${rangeText(range)}${F < all ? ` · filters ${F}–${all - 1} left out (--max-channels)` : ''}`,
      ],
    }),
  );
}

async function renderModeMaps(s: DatasetStats, l: LayerStats, figs: FigureSet) {
  const modes = l.modes!;
  const names = classNamesOf(s);
  const scale = defaultScale(modes.height, modes.width, 96);
  const panels: RGBAImage[] = [];
  const classes: Record<string, unknown>[] = [];
  const used = new Map<number, number>();
  for (let c = 0; c < modes.numClasses; c++) {
    const m = modeMap(modes, c);
    let shareSum = 0;
    let ties = 0;
    for (let p = 0; p < m.share.length; p++) {
      shareSum += m.share[p];
      if (m.tied[p].length > 1) ties++;
    }
    for (const { filter, pixels } of modeFilters(m)) used.set(filter, (used.get(filter) ?? 0) + pixels);
    const meanShare = shareSum / m.share.length;
    classes.push({
      class: c,
      name: names[c],
      images: modes.images[c],
      meanShare,
      tiedPixels: ties,
      mode: [...m.mode],
    });
    panels.push(
      await labelledPanel(
        grid([modeMapImage(m, scale), modeShareImage(m, scale)], {
          gap: 2,
          background: [255, 255, 255, 255],
        }),
        {
          title: `class ${names[c]}`,
          caption: [`n=${modes.images[c]} · mean share ${num(meanShare)} · ${ties} tied px`],
          fontSize: 10,
        },
      ),
    );
  }
  const legendFilters = [...used].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([f]) => f);
  const legendImg = await labelledGrid(
    legendFilters.map((f) => swatch(f, 16)),
    legendFilters.map((f) => ({ caption: [`f${f}`] })),
    Math.min(24, legendFilters.length),
  );
  const file = `mode-maps-${safeName(l.layer.name)}.png`;
  await figs.png(
    {
      file,
      kind: 'mode-maps',
      layer: l.layer.name,
      shape: [modes.height, modes.width],
      filters: modes.filters,
      legend: legendFilters,
      classes,
    },
    await labelledPanel(
      stack([
        grid(panels, { columns: Math.min(5, panels.length), gap: 6, background: [255, 255, 255, 255] }),
        legendImg,
      ]),
      {
        title: `${l.layer.name}: per-class mode of the most activated filter per pixel`,
        caption: [
          coverage(s),
          'left: mode filter (categorical colours, stripes = tied filters); right: mode share 0…1 (viridis)',
          `legend: filters that are a mode somewhere, most pixels first`,
        ],
      },
    ),
  );
}

async function renderTopK(s: DatasetStats, l: LayerStats, figs: FigureSet, cap: number) {
  const [H, W, C] = s.meta.inputShape;
  const names = classNamesOf(s);
  const entries = l.topk.entries.slice(0, cap);
  let tileW = 0;
  let tileH = 0;
  const tiles = entries.map((list) =>
    list.map((e) => {
      // Large receptive fields are stored averaged down, with their own size (tasks/stats.ts).
      const sized = e as typeof e & { patchHeight?: number; patchWidth?: number };
      const bh = sized.patchHeight ?? e.box.y1 - e.box.y0 + 1;
      const bw = sized.patchWidth ?? e.box.x1 - e.box.x0 + 1;
      const img = e.patch ? patchImage(e.patch, bh, bw, C, 40) : undefined;
      if (img) {
        tileW = Math.max(tileW, img.width);
        tileH = Math.max(tileH, img.height);
      }
      return img;
    }),
  );
  if (tileW === 0) return; // partials without patches: nothing to draw
  // Panels render concurrently: sharp works on its own thread pool.
  const rows = await Promise.all(
    entries
      .map((list, f) => ({ list, f }))
      .filter(({ f }) => tiles[f].some((t) => t))
      .map(({ list, f }) => {
        const imgs = tiles[f].filter((t): t is RGBAImage => !!t).map((t) => padTo(t, tileW, tileH));
        // Units of the class-score layer are classes: name them.
        const unit = l.layer.spatial
          ? `f${f}`
          : l.layer.name === 'logits' && names[f] && l.means.filters === names.length
            ? `unit ${f} (${names[f]})`
            : `unit ${f}`;
        return labelledPanel(grid(imgs, { columns: l.topk.k, gap: 2, background: [255, 255, 255, 255] }), {
          title: unit,
          caption: [`${num(list[0].value)} … ${num(list[list.length - 1].value)}`],
          fontSize: 10,
        });
      }),
  );
  const file = `top-k-${safeName(l.layer.name)}.png`;
  const box = l.topk.entries.find((x) => x.length)?.[0]?.box;
  await figs.png(
    {
      file,
      kind: 'top-k',
      layer: l.layer.name,
      k: l.topk.k,
      ...(entries.length < l.topk.filters ? { shown: entries.length } : {}),
      filters: entries.map((list, f) => ({
        filter: f,
        entries: list.map((e) => ({
          image: e.image,
          label: e.label,
          className: names[e.label],
          value: e.value,
          y: e.y,
          x: e.x,
          box: e.box,
        })),
      })),
    },
    await labelledPanel(
      grid(rows, {
        columns: Math.max(1, Math.min(4, Math.floor(2000 / (rows[0].width + 6)))),
        gap: 6,
        background: [255, 255, 255, 255],
      }),
      {
        title: `${l.layer.name}: top ${l.topk.k} images per ${l.layer.spatial ? 'filter' : 'unit'} (receptive-field patches)`,
        caption: [
          coverage(s),
          l.layer.spatial && box
            ? `patches: input under the peak unit's receptive field (${box.y1 - box.y0 + 1}×${box.x1 - box.x0 + 1} px inside the image, ${H}×${W} input)`
            : 'patches: whole input images',
          'per row: best first; caption = highest … lowest value shown',
          ...(entries.length < l.topk.filters
            ? [
                `${l.layer.spatial ? 'filters' : 'units'} ${entries.length}–${l.topk.filters - 1} left out (--max-channels)`,
              ]
            : []),
        ],
      },
    ),
  );
}
