/**
 * The feature-space section on a pretrained model: features of the first, a middle and the last chosen
 * layer (global-average-pooled) for the lab's images, mapped to 2-D with UMAP and PCA (seeded), as a
 * small multiple per depth with 5-NN separation numbers, a thumbnail map of the last layer and the
 * nearest neighbours of a few images. The features themselves are written to a scratch folder and
 * removed: the report keeps only figures and numbers.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { grid } from '@convlens/core/render/image';
import { type Features, readFeatures } from '../features/read-features.ts';
import { safeName } from '../figures/figure-set.ts';
import { labelledPanel, writePng } from '../io/png.ts';
import { type OpenedModel, openModel } from '../open/open-model.ts';
import { type EmbedSummary, embedFeatures } from '../tasks/embed.ts';
import { extractFeatures, type FeatureDataset, openFeatureDataset } from '../tasks/features.ts';
import { existingFigure, readPng } from './figures.ts';
import { byClass } from './stage-pt-data.ts';
import { taskHooks } from './stage-pt-inside.ts';
import { type Figure, Interrupted, type LabContext, type StageResult } from './types.ts';

/** Points mapped at most, and images whose neighbours are shown. */
export const FEATURE_MAP_POINTS = 2000;
export const FEATURE_MAP_QUERIES = 3;

/** First, middle and last of the chosen layers (fewer when fewer are chosen). */
export function depthLayers(layers: string[]): string[] {
  if (layers.length <= 3) return layers;
  return [layers[0], layers[Math.floor((layers.length - 1) / 2)], layers[layers.length - 1]];
}

/** Labels renumbered over the classes present (so colours and the legend follow the dataset's classes). */
function denseClasses(f: Features): Features {
  const present = [...new Set(Array.from(f.labels).filter((l) => l >= 0))].sort((a, b) => a - b);
  const rank = new Map(present.map((c, i) => [c, i]));
  return {
    ...f,
    labels: Int32Array.from(f.labels, (l) => (l < 0 ? -1 : rank.get(l)!)),
    index: { ...f.index, classNames: present.map((c) => f.index.classNames[c] ?? String(c)) },
  };
}

const pct = (v: number | undefined) => (v === undefined ? '–' : `${(100 * v).toFixed(1)}%`);

export async function ptFeatureMapStage(ctx: LabContext): Promise<StageResult> {
  const { model, data, settings: p } = ctx.pretrained!;
  const fd: FeatureDataset = {
    data,
    classNames: model.classNames,
    file: (i) => data.source(i),
    split: 'test',
  };
  return featureMapSection(ctx, { model, dataset: fd, layers: depthLayers(p.layers), big: p.big });
}

export interface FeatureMapInputs {
  model: OpenedModel;
  dataset: FeatureDataset;
  /** Shallow to deep. */
  layers: string[];
  /** Photos (smooth thumbnails, 40 px) rather than small digits. */
  big: boolean;
  /** Points mapped (default FEATURE_MAP_POINTS). */
  points?: number;
}

/** Features of each layer → maps, small multiples, thumbnail map and neighbours (both labs). */
export async function featureMapSection(ctx: LabContext, o: FeatureMapInputs): Promise<StageResult> {
  const { model, dataset: fd, layers } = o;
  const p = { big: o.big };
  const rel = 'figures/feature-map';
  const scratch = join(ctx.out, 'feature-map-scratch');
  const summaries: EmbedSummary[] = [];
  try {
    for (const [k, layer] of layers.entries()) {
      if (ctx.stopRequested()) throw new Interrupted();
      const fdir = join(scratch, safeName(layer));
      const h = taskHooks(ctx, `features ${layer}`, 'img');
      try {
        await extractFeatures(
          { model, dataset: fd, layer, out: fdir, pool: 'avg', limit: o.points ?? FEATURE_MAP_POINTS },
          h,
        );
      } finally {
        h.close();
      }
      const f = denseClasses(await readFeatures(fdir));
      const last = k === layers.length - 1;
      // The first image of the first classes (rows, not dataset indices: a folder is sampled).
      const rowsAll = Array.from({ length: f.n }, (_, i) => i);
      const firsts = [...byClass(f.labels, rowsAll).entries()].filter(([c]) => c >= 0).map(([, m]) => m[0]);
      // Unlabelled images: the first few.
      const queries = (firsts.length ? firsts : rowsAll).slice(0, FEATURE_MAP_QUERIES);
      const e = taskHooks(ctx, `map ${layer}`, 'steps');
      try {
        summaries.push(
          await embedFeatures(
            {
              features: f,
              out: join(ctx.out, rel, safeName(layer)),
              method: 'umap',
              seed: ctx.settings.seed,
              limit: o.points ?? FEATURE_MAP_POINTS,
              neighbors: last ? queries : [],
              k: 8,
              thumbnails: last,
              thumbSize: p.big ? 40 : 28,
              thumbnailSource: { model, dataset: fd },
              scatterSize: [440, 400],
              mapRows: 16,
            },
            e,
          ),
        );
      } finally {
        e.close();
      }
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }

  // The small multiples: one row per method, one panel per depth.
  const figures: Figure[] = [];
  for (const method of ['umap', 'pca'] as const) {
    const panels = await Promise.all(
      summaries.map((s) => readPng(join(ctx.out, rel, safeName(s.layer), `scatter-${method}.png`))),
    );
    const row = await labelledPanel(
      grid(panels, { columns: panels.length, gap: 8, background: [255, 255, 255, 255] }),
      {
        title: `${method === 'umap' ? 'UMAP' : 'PCA'} of each layer's features, shallow → deep`,
        fontSize: 22,
      },
    );
    const src = `${rel}/by-depth-${method}.png`;
    await writePng(join(ctx.out, src), row);
    figures.push({
      ...(await existingFigure(
        ctx.out,
        src,
        `${method === 'umap' ? 'UMAP' : 'PCA'} by depth`,
        method === 'umap'
          ? 'Each point is an image, coloured by its class; UMAP keeps neighbourhoods (clusters are real, distances between them are not)'
          : 'The two directions of largest variance: a linear view, with the share of variance each axis shows',
      )),
      group: 'Classes separating with depth',
    });
  }
  const lastS = summaries.at(-1)!;
  const lastDir = join(rel, safeName(lastS.layer));
  const index = JSON.parse(await readFile(join(ctx.out, lastDir, 'index.json'), 'utf8')) as {
    files: { file: string; kind: string }[];
  };
  for (const e of index.files) {
    if (e.kind === 'thumbnail-map')
      figures.push({
        ...(await existingFigure(
          ctx.out,
          `${lastDir}/${e.file}`,
          `Thumbnail map of ${lastS.layer}`,
          'The UMAP map with images in place of points: which images does the network think are alike?',
        )),
        group: 'Which images the network thinks are alike',
        smooth: p.big,
      });
    if (e.kind === 'neighbors')
      figures.push({
        ...(await existingFigure(ctx.out, `${lastDir}/${e.file}`, `Nearest neighbours in ${lastS.layer}`)),
        group: 'Nearest neighbours in feature space (cosine)',
        smooth: p.big,
      });
  }
  const rows = summaries.map((s) => [
    s.layer,
    s.features,
    pct(s.quality.full?.accuracy),
    pct(s.quality.map?.accuracy),
    pct(s.quality.pca?.accuracy),
    pct(s.quality.full?.chance),
    `${(100 * (s.explained[0] + (s.explained[1] ?? 0))).toFixed(1)}%`,
  ]);
  return {
    figures,
    tables: [
      {
        title: 'How well classes separate (leave-one-out 5-NN accuracy)',
        header: ['layer', 'features', 'all features', 'UMAP map', 'PCA map', 'chance', 'PCA variance shown'],
        rows,
      },
    ],
    notes: [
      `${summaries[0]?.points ?? 0} images, features global-average-pooled per layer; UMAP and PCA seeded (seed ${ctx.settings.seed}). The 5-NN accuracy says how often an image's five nearest neighbours vote for its own class: in all features (what a simple classifier could use) and in each 2-D map (how faithful the picture is).`,
    ],
    numbers: {
      layers: summaries.map((s) => ({
        layer: s.layer,
        features: s.features,
        points: s.points,
        quality: s.quality,
        explained: s.explained,
        seconds: s.seconds,
      })),
    },
  };
}

/** The zoo lab's layers: the first and last conv, and the last dense layer before the head. */
export function zooMapLayers(model: OpenedModel): string[] {
  const ls = model.model.layers;
  const convs = ls.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.name);
  const dense = ls.filter((l) => l.getClassName() === 'Dense').map((l) => l.name);
  const picked = [convs[0], convs.at(-1), dense.length > 1 ? dense.at(-2) : undefined];
  return [...new Set(picked.filter((n): n is string => n !== undefined))];
}

/** Points the zoo lab maps: enough to see ten digit clusters, few enough to cost seconds. */
export const ZOO_MAP_POINTS = 1000;

/** The feature-space section of the zoo lab: the trained run on its own held-out images. */
export async function zooFeatureMapStage(ctx: LabContext): Promise<StageResult> {
  const model = await openModel(ctx.runDir);
  try {
    const dataset = await openFeatureDataset(undefined, model, {
      dataDir: ctx.dataDir,
      download: ctx.download,
    });
    return await featureMapSection(ctx, {
      model,
      dataset,
      layers: zooMapLayers(model),
      big: false,
      points: ctx.settings.quick ? 500 : ZOO_MAP_POINTS,
    });
  } finally {
    model.dispose();
  }
}
