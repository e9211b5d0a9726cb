/** The activations job: every chosen layer's output for one input, as labelled figures and an index. */

import { defaultProbeLayers, probe } from '@convlens/core/inspect/probe';
import type { JobHooks } from '@convlens/core/jobs/job';
import { checkStop } from '@convlens/core/jobs/job';
import { valueRange } from '@convlens/core/render/colormap';
import { imageFromBytes, upscale } from '@convlens/core/render/image';
import { barStrip } from '@convlens/core/render/inside-bars';
import { featureMapTiles } from '@convlens/core/render/inside-feature-maps';
import { colorBar } from '@convlens/core/render/inside-legend';
import { checkOutDir, FigureSet, safeName } from '../figures/figure-set.ts';
import { labelledGrid, num, rangeText, stack } from '../figures/panels.ts';
import { writeDirAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { labelledPanel } from '../io/png.ts';
import type { OpenedModel } from '../open/open-model.ts';
import { chooseLayers, layersModel, maxChannels, omittedNote } from './layer-choice.ts';
import { type InputSpec, readModelInput } from './model-input.ts';

export interface ActivationsOptions {
  model: OpenedModel;
  input: InputSpec;
  /** Output folder, replaced atomically. */
  out: string;
  /** Default: every conv, pool and dense layer (a sample of 8 conv layers on a big model). */
  layers?: string[];
  /** Feature maps drawn per layer (default: all on a small model, 32 on a big one). */
  maxChannels?: number;
}

export interface LayerSummary {
  layer: string;
  className: string;
  shape: number[];
  min: number;
  max: number;
  /** Filter/unit with the largest mean (spatial) or value (dense), over all channels. */
  top: number;
  /** Channels drawn (the first ones), when fewer than the layer has. */
  shown?: number;
  file: string;
}

export interface ActivationsResult {
  input: string;
  label?: number;
  className?: string;
  layers: LayerSummary[];
  /** Layers the default left out (big models). */
  omitted: string[];
  out: string;
}

/** Mean of every channel of an H·W·C map. */
function channelMeans(values: Float32Array, hw: number, c: number): number[] {
  const means = new Array<number>(c).fill(0);
  for (let p = 0; p < hw; p++) for (let f = 0; f < c; f++) means[f] += values[p * c + f];
  return means.map((s) => s / hw);
}

const argmax = (xs: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
};

export async function activationsCommand(
  o: ActivationsOptions,
  hooks: JobHooks = {},
): Promise<ActivationsResult> {
  const log = (s: string) => hooks.log?.(s);
  await checkOutDir(o.out);
  const m = o.model;
  const model = layersModel(m);
  const choice = chooseLayers(model, defaultProbeLayers(model), o.layers);
  const note = omittedNote(choice);
  if (note) log(`activations: ${note}`);
  const cap = maxChannels(m, o.maxChannels);
  const input = await readModelInput(m, o.input, log);
  const [H, W, C] = m.inputShape;
  const acts = await probe(model, input.x, 1, choice.layers);
  const names = m.classNames;
  const className = input.label !== undefined ? names[input.label] : undefined;
  const summary: LayerSummary[] = [];
  await writeDirAtomic(o.out, async (dir) => {
    const figs = new FigureSet(dir);
    const inImg = imageFromBytes(input.bytes, W, H, C);
    await figs.png(
      { file: 'input.png', kind: 'input', source: input.source },
      await labelledPanel(upscale(inImg, Math.max(1, Math.round(112 / Math.max(H, W)))), {
        title: 'input',
        caption: [input.source, className !== undefined ? `label ${className}` : 'unlabelled'],
        minWidth: 160,
      }),
    );
    for (const [i, a] of acts.entries()) {
      checkStop(hooks, 'activations');
      hooks.onProgress?.(i, acts.length, { layer: a.name });
      const file = `layer-${safeName(a.name)}.png`;
      const range = valueRange(a.values);
      // A 1×1 map (e.g. MobileNet's conv_preds) is a vector: drawn as bars, not as one-pixel tiles.
      const [h, w, c] = a.spatial ? a.shape : [1, 1, a.shape[0]];
      if (a.spatial && h * w > 1) {
        const means = channelMeans(a.values, h * w, c);
        const top = argmax(means);
        const n = Math.min(c, cap);
        const shown = n < c ? a.values.filter((_, j) => j % c < n) : a.values;
        const { tiles, ranges } = featureMapTiles(shown, h, w, n, { range });
        const body = await labelledGrid(
          tiles,
          ranges.map((r, f) => ({ title: `f${f}`, caption: [rangeText(r)] })),
          Math.min(16, Math.ceil(Math.sqrt(n * 1.5))),
        );
        const legend = await labelledPanel(colorBar('viridis'), {
          caption: [`viridis: ${num(range.min)} (dark) … ${num(range.max)} (bright), shared by all maps`],
        });
        await figs.png(
          {
            file,
            kind: 'feature-maps',
            layer: a.name,
            className: a.className,
            shape: a.shape,
            range,
            ...(n < c ? { shown: n } : {}),
            filters: ranges.map((r, f) => ({ filter: f, range: r, mean: means[f] })),
          },
          await labelledPanel(stack([body, legend]), {
            title: `${a.name} (${a.className}): ${n < c ? `feature maps 0–${n - 1} of ${c}` : `${c} feature maps`}, ${h}×${w}`,
            caption: [
              `${input.source} · value range ${rangeText(range)} · most active filter f${top}${n < c ? ' (of all)' : ''}`,
              ...(n < c ? [`filters ${n}–${c - 1} left out (--max-channels)`] : []),
            ],
          }),
        );
        summary.push({
          layer: a.name,
          className: a.className,
          shape: a.shape,
          ...range,
          top,
          ...(n < c ? { shown: n } : {}),
          file,
        });
      } else {
        const values = [...a.values];
        const top = argmax(values);
        const { image } = barStrip(a.values, { highlight: top });
        const scores = values.length === m.numClasses && (a.name === 'logits' || a.name === m.scores.from);
        const best = [...values.keys()].sort((x, y) => values[y] - values[x]).slice(0, 5);
        await figs.png(
          {
            file,
            kind: 'dense-activations',
            layer: a.name,
            className: a.className,
            shape: a.shape,
            range,
            values,
          },
          await labelledPanel(image, {
            title: `${a.name} (${a.className}): ${values.length} units`,
            caption: [
              `value range ${rangeText(range)} · bars from 0 (blue +, red −) · highest unit ${top} (orange) = ${num(values[top])}`,
              !scores
                ? `units 0…${values.length - 1} left→right`
                : values.length <= 20
                  ? `units left→right = classes ${names.join(', ')} · highest: ${names[top]}`
                  : `units = classes 0…${values.length - 1} · highest: ${best.map((b) => `${names[b]} (${num(values[b])})`).join(', ')}`,
            ],
            minWidth: 320,
          }),
        );
        summary.push({ layer: a.name, className: a.className, shape: a.shape, ...range, top, file });
      }
    }
    hooks.onProgress?.(acts.length, acts.length);
    await writeJsonAtomic(`${dir}/index.json`, {
      command: 'activations',
      model: m.source,
      modelName: model.name,
      input: { source: input.source, label: input.label, className },
      ...(choice.omitted.length ? { omittedLayers: choice.omitted } : {}),
      files: figs.entries,
    });
  });
  return {
    input: input.source,
    label: input.label,
    className,
    layers: summary,
    omitted: choice.omitted,
    out: o.out,
  };
}
