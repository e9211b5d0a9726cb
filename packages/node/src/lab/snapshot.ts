/**
 * Per-epoch snapshots for the training timeline, on fixed probe images: first-layer feature maps,
 * first-layer filters, class maximizations and Grad-CAMs (when the registry has Grad-CAM).
 */
import type { Standardizer } from '@convlens/core/data/standardize';
import type { ImageSet } from '@convlens/core/data/types';
import type { tf } from '@convlens/core/engine/backend';
import { convLayerNames, layerFilters } from '@convlens/core/inspect/filters';
import { probe } from '@convlens/core/inspect/probe';
import { classObjective } from '@convlens/core/methods/actmax/objective';
import { maximize } from '@convlens/core/methods/actmax/optimize';
import type { ExplainMethod, Explanation } from '@convlens/core/methods/explain/types';
import { actmaxToRGBA } from '@convlens/core/render/actmax-grid';
import { upscale } from '@convlens/core/render/image';
import { featureMapTiles } from '@convlens/core/render/inside-feature-maps';
import { filterTiles } from '@convlens/core/render/inside-filters';
import { colorBar } from '@convlens/core/render/inside-legend';
import { drawExplanation } from '@convlens/core/render/overlay';
import { labelledGrid, num, rangeText, stack } from '../figures/panels.ts';
import { labelledPanel } from '../io/png.ts';
import { explainBatch, findMethod } from './explain.ts';
import { exampleImage, modelInput, saveFigure } from './figures.ts';
import type { Figure } from './types.ts';

export interface ProbeSet {
  set: ImageSet;
  indices: number[];
  standardizer?: Standardizer;
  names: string[];
}

/** TV weight of the timeline's class maximizations: smooth enough to read digits at a glance. */
export const TIMELINE_TV = 32;

export type SnapshotKind = 'fmaps' | 'filters' | 'actmax' | 'gradcam';
export const SNAPSHOT_KINDS: SnapshotKind[] = ['fmaps', 'filters', 'actmax', 'gradcam'];

export async function epochSnapshot(
  out: string,
  model: tf.LayersModel,
  probes: ProbeSet,
  epoch: number,
  steps: number,
  seed: number,
  /** The Grad-CAM method (default: the registry's 'gradcam', when registered). */
  gradcam: ExplainMethod | undefined = findMethod('gradcam'),
): Promise<{ figures: Partial<Record<SnapshotKind, Figure>>; numbers: Record<string, unknown> }> {
  const { set, indices, names } = probes;
  const shape: [number, number, number] = [set.height, set.width, set.channels];
  const tag = `e${String(epoch).padStart(2, '0')}`;
  const first = convLayerNames(model)[0];
  const figures: Partial<Record<SnapshotKind, Figure>> = {};
  const numbers: Record<string, unknown> = { epoch };

  // Feature maps of the first probe image in the first conv layer.
  const x0 = modelInput(set, [indices[0]], probes.standardizer);
  const [act] = await probe(model, x0, 1, [first]);
  const [h, w, c] = act.shape;
  const fm = featureMapTiles(act.values, h, w, c, { scale: 2 });
  const fmGrid = await labelledGrid(
    fm.tiles,
    fm.tiles.map((_, f) => ({ title: `f${f}` })),
    8,
  );
  figures.fmaps = await saveFigure(
    out,
    `timeline/${tag}-fmaps.png`,
    await labelledPanel(stack([fmGrid, colorBar('viridis')]), {
      title: `epoch ${epoch}: ${first} feature maps of a '${names[set.labels[indices[0]]]}'`,
      caption: [`viridis, shared range ${rangeText(fm.range)} (left → right of the bar)`],
    }),
    `Feature maps (${first}), epoch ${epoch}`,
  );

  // First-layer filters on one symmetric range.
  const lf = layerFilters(model, first);
  const fTiles = Array.from({ length: lf.filters }, (_, f) => filterTiles(lf, f)[0]);
  figures.filters = await saveFigure(
    out,
    `timeline/${tag}-filters.png`,
    await labelledPanel(
      stack([
        await labelledGrid(
          fTiles,
          fTiles.map((_, f) => ({ title: `f${f}` })),
          8,
        ),
        colorBar('rdbu'),
      ]),
      {
        title: `epoch ${epoch}: ${first} filters (${lf.kh}×${lf.kw})`,
        caption: [`rdbu: blue −${num(lf.range.max)} · white 0 · red +${num(lf.range.max)}`],
      },
    ),
    `First-layer filters, epoch ${epoch}`,
  );

  // Class maximizations (pre-softmax score, light TV), same seed every epoch so changes are the model's.
  const K = names.length;
  const am = await maximize(
    model,
    Array.from({ length: K }, (_, k) => classObjective(k)),
    { steps, tvWeight: TIMELINE_TV, seed, range: [0, 1], standardizer: probes.standardizer },
  );
  const amTiles = am.images.map((img) => upscale(actmaxToRGBA(img, ...shape), 2));
  figures.actmax = await saveFigure(
    out,
    `timeline/${tag}-actmax.png`,
    await labelledPanel(
      await labelledGrid(
        amTiles,
        amTiles.map((_, k) => ({ title: names[k], caption: [`p=${am.targetProbability[k]!.toFixed(2)}`] })),
        10,
      ),
      {
        title: `epoch ${epoch}: class maximizations (${steps} Adam steps, tv ${TIMELINE_TV})`,
        caption: ['grey: 0 black … 1 white; p = softmax probability of the class'],
      },
    ),
    `Class maximizations, epoch ${epoch}`,
  );
  numbers.actmaxProbability = am.targetProbability;

  if (gradcam) {
    const x = modelInput(set, indices, probes.standardizer);
    const targets = indices.map((i) => set.labels[i]);
    let e: Explanation | undefined;
    try {
      e = await explainBatch(gradcam, model, x, shape, targets);
    } catch (err) {
      numbers.gradcamError = (err as Error).message.split('\n')[0];
    }
    if (e) {
      const tiles = indices.map((idx, k) => drawExplanation(e, k, exampleImage(set, idx), 3));
      figures.gradcam = await saveFigure(
        out,
        `timeline/${tag}-gradcam.png`,
        await labelledPanel(
          await labelledGrid(
            tiles,
            indices.map((idx) => ({ title: `${names[set.labels[idx]]}` })),
            10,
          ),
          {
            title: `epoch ${epoch}: Grad-CAM for the true class${e.layer ? ` (layer ${e.layer})` : ''}`,
            caption: ['inferno over the digit: black 0 … yellow = the map’s max'],
          },
        ),
        `Grad-CAM, epoch ${epoch}`,
      );
    }
  }
  return { figures, numbers };
}
