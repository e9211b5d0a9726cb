/**
 * The filters job: conv kernels as labelled images on one shared symmetric scale per layer. Plain
 * convolutions show one kernel per input channel (or one RGB image on an RGB input); depthwise
 * convolutions (MobileNet's spatial filters) one kernel per channel.
 */
import type { tf } from '@convlens/core/engine/backend';
import { type LayerFilters, layerFilters } from '@convlens/core/inspect/filters';
import type { JobHooks } from '@convlens/core/jobs/job';
import { checkStop } from '@convlens/core/jobs/job';
import { grid } from '@convlens/core/render/image';
import { filterTiles } from '@convlens/core/render/inside-filters';
import { colorBar } from '@convlens/core/render/inside-legend';
import { checkOutDir, FigureSet, safeName } from '../figures/figure-set.ts';
import { num, rangeText, stack } from '../figures/panels.ts';
import { writeDirAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { labelledPanel } from '../io/png.ts';
import type { OpenedModel } from '../open/open-model.ts';
import { chooseLayers, isBig, layersModel, maxChannels, omittedNote } from './layer-choice.ts';

export interface FiltersOptions {
  model: OpenedModel;
  /** Output folder, replaced atomically. */
  out: string;
  /** Default: every conv layer with kernels (8 evenly spaced on a big model). */
  layers?: string[];
  /** Filters (and input channels) drawn per layer (default: all on a small model, 32 on a big one). */
  maxChannels?: number;
}

export interface FilterLayerSummary {
  layer: string;
  className: string;
  kernel: string;
  filters: number;
  /** Filters drawn (the first ones), when fewer than the layer has. */
  shown?: number;
  range: { min: number; max: number };
  file: string;
}

export interface FiltersResult {
  out: string;
  layers: FilterLayerSummary[];
  omitted: string[];
}

const KERNEL_CLASSES = new Set(['Conv2D', 'DepthwiseConv2D']);

/** Layers whose kernels can be drawn. */
export function kernelLayerNames(model: tf.LayersModel): string[] {
  return model.layers.filter((l) => KERNEL_CLASSES.has(l.getClassName())).map((l) => l.name);
}

/** A depthwise layer's kernels: filter f = input channel ⌊f / multiplier⌋, one kh×kw kernel each. */
function depthwiseFilters(layer: tf.layers.Layer): LayerFilters {
  const kernel = layer.getWeights()[0];
  const [kh, kw, cin, mult] = kernel.shape as [number, number, number, number];
  const w = kernel.dataSync() as Float32Array;
  let m = 0;
  for (let i = 0; i < w.length; i++) m = Math.max(m, Math.abs(w[i]));
  return {
    layer: layer.name,
    kh,
    kw,
    inChannels: 1,
    filters: cin * mult,
    range: { min: -m, max: m },
    kernel(f) {
      const out = new Float32Array(kh * kw);
      for (let p = 0; p < kh * kw; p++) out[p] = w[p * cin * mult + f];
      return out;
    },
  };
}

function kernelsOf(model: tf.LayersModel, name: string): LayerFilters {
  const layer = model.layers.find((l) => l.name === name);
  if (!layer)
    throw new Error(`unknown layer '${name}' (layers with filters: ${kernelLayerNames(model).join(', ')})`);
  const cls = layer.getClassName();
  if (cls === 'DepthwiseConv2D') return depthwiseFilters(layer);
  if (cls !== 'Conv2D')
    throw new Error(
      `layer '${name}' is a ${cls}, not a conv layer with filters to show (layers with filters: ${kernelLayerNames(model).join(', ')})`,
    );
  return layerFilters(model, name);
}

export async function filtersCommand(o: FiltersOptions, hooks: JobHooks = {}): Promise<FiltersResult> {
  const log = (s: string) => hooks.log?.(s);
  await checkOutDir(o.out);
  const model = layersModel(o.model);
  const names = kernelLayerNames(model);
  if (names.length === 0) throw new Error(`model '${model.name}' has no conv layer with filters to show`);
  // By default a big model's spatial kernels (MobileNet: conv1 and the depthwise 3×3s), not its 1×1s.
  const spatial = names.filter((n) => {
    const k = (model.getLayer(n) as unknown as { kernelSize?: number[] }).kernelSize;
    return !k || k[0] * k[1] > 1;
  });
  const candidates = isBig(o.model) && spatial.length > 0 ? spatial : names;
  const choice = chooseLayers(model, candidates, o.layers, { preferMixing: false });
  if (!o.layers && candidates.length < names.length)
    choice.omitted = names.filter((n) => !choice.layers.includes(n));
  const sources = choice.layers.map((n) => kernelsOf(model, n)); // bad names fail before anything is drawn
  const note = omittedNote(choice);
  if (note) log(`filters: ${note}`);
  const cap = maxChannels(o.model, o.maxChannels);
  const layers: FilterLayerSummary[] = [];
  await writeDirAtomic(o.out, async (dir) => {
    const figs = new FigureSet(dir);
    for (const [li, full] of sources.entries()) {
      checkStop(hooks, 'filters');
      hooks.onProgress?.(li, sources.length, { layer: full.layer });
      const cls = model.getLayer(full.layer).getClassName();
      const depthwise = cls === 'DepthwiseConv2D';
      const rgb = full.inChannels === 3;
      const shown = Math.min(full.filters, cap);
      const inShown = rgb ? 3 : Math.min(full.inChannels, cap);
      const f: LayerFilters = { ...full, inChannels: inShown };
      // 1×1 kernels (pointwise convs) are single weights: small cells, not 48 px squares.
      const scale = f.kh * f.kw === 1 ? 12 : undefined;
      // One row per output filter: its per-channel kernels side by side (or one RGB image).
      const rows = await Promise.all(
        Array.from({ length: shown }, async (_, i) => {
          const tiles = filterTiles(f, i, scale);
          return labelledPanel(grid(tiles, { columns: Math.min(tiles.length, 32), gap: 1 }), {
            title: `f${i}`,
            fontSize: 10,
          });
        }),
      );
      const body = grid(rows, {
        columns: rgb || inShown === 1 ? 16 : inShown <= 8 ? 4 : 1,
        gap: 4,
        background: [255, 255, 255, 255],
      });
      const legend = await labelledPanel(colorBar(rgb ? 'gray' : 'rdbu'), {
        caption: [
          rgb
            ? `per channel: ${num(f.range.min)} (0) … 0 (mid-grey) … ${num(f.range.max)} (255)`
            : `rdbu: ${num(f.range.min)} (blue) … 0 (white) … ${num(f.range.max)} (red), shared by all kernels`,
        ],
      });
      const left = [
        ...(shown < full.filters ? [`filters ${shown}–${full.filters - 1}`] : []),
        ...(inShown < full.inChannels ? [`input channels ${inShown}–${full.inChannels - 1}`] : []),
      ];
      const file = `filters-${safeName(full.layer)}.png`;
      const kernel = `${f.kh}×${f.kw}×${depthwise ? 1 : full.inChannels}`;
      await figs.png(
        {
          file,
          kind: 'filters',
          layer: full.layer,
          className: cls,
          kernel: [f.kh, f.kw],
          inChannels: full.inChannels,
          filters: full.filters,
          ...(shown < full.filters ? { shown } : {}),
          ...(inShown < full.inChannels ? { inChannelsShown: inShown } : {}),
          layout: depthwise
            ? 'one kernel per channel (depthwise)'
            : rgb
              ? 'one RGB image per filter'
              : 'per filter: one kernel per input channel, left to right',
          range: f.range,
        },
        await labelledPanel(stack([body, legend]), {
          title: `${full.layer}: ${full.filters} ${depthwise ? 'depthwise ' : ''}filters, ${kernel}`,
          caption: [
            `shared symmetric weight range ${rangeText(f.range)}`,
            ...(left.length ? [`${left.join(' and ')} left out (--max-channels)`] : []),
          ],
        }),
      );
      layers.push({
        layer: full.layer,
        className: cls,
        kernel,
        filters: full.filters,
        ...(shown < full.filters ? { shown } : {}),
        range: f.range,
        file,
      });
    }
    hooks.onProgress?.(sources.length, sources.length);
    await writeJsonAtomic(`${dir}/index.json`, {
      command: 'filters',
      model: o.model.source,
      modelName: model.name,
      ...(choice.omitted.length ? { omittedLayers: choice.omitted } : {}),
      files: figs.entries,
    });
  });
  return { out: o.out, layers, omitted: choice.omitted };
}
