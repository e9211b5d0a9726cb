/** `convlens activations`: every probed layer's output for one input, as labelled figures. */
import { type BackendName, initBackend } from '@convlens/core/engine/backend';
import { probe } from '@convlens/core/inspect/probe';
import { valueRange } from '@convlens/core/render/colormap';
import { createImage, upscale } from '@convlens/core/render/image';
import { barStrip } from '@convlens/core/render/inside-bars';
import { featureMapTiles } from '@convlens/core/render/inside-feature-maps';
import { colorBar } from '@convlens/core/render/inside-legend';
import { writeDirAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { labelledPanel } from '../io/png.ts';
import { loadRun } from '../train/load-run.ts';
import { checkOutDir, FigureSet, labelledGrid, num, rangeText, safeName, stack } from './inside-figures.ts';
import { loadInput } from './inside-input.ts';

export interface ActivationsOptions {
  run: string;
  image?: string;
  index?: number;
  dataset?: string;
  dataDir?: string;
  download?: boolean;
  out: string;
  layers?: string[];
  backend: BackendName;
}

export interface LayerSummary {
  layer: string;
  className: string;
  shape: number[];
  min: number;
  max: number;
  /** Filter/unit with the largest mean (spatial) or value (dense). */
  top: number;
  file: string;
}

export async function activationsCommand(o: ActivationsOptions, log: (s: string) => void) {
  await checkOutDir(o.out);
  await initBackend(o.backend);
  const run = await loadRun(o.run);
  try {
    const input = await loadInput(run, o, log);
    const [H, W, C] = run.config.inputShape;
    const acts = await probe(run.model, input.x, 1, o.layers);
    const summary: LayerSummary[] = [];
    await writeDirAtomic(o.out, async (dir) => {
      const figs = new FigureSet(dir);
      const inImg = createImage(W, H);
      for (let p = 0; p < H * W; p++) {
        const v = input.bytes.subarray(p * C, p * C + C);
        inImg.data.set(C === 3 ? [v[0], v[1], v[2], 255] : [v[0], v[0], v[0], 255], p * 4);
      }
      const labelText = input.label !== undefined ? `label ${run.classNames[input.label]}` : 'unlabelled';
      await figs.png(
        { file: 'input.png', kind: 'input', source: input.source },
        await labelledPanel(upscale(inImg, Math.max(1, Math.round(112 / Math.max(H, W)))), {
          title: 'input',
          caption: [input.source, labelText],
          minWidth: 160,
        }),
      );
      for (const a of acts) {
        const file = `layer-${safeName(a.name)}.png`;
        const range = valueRange(a.values);
        if (a.spatial) {
          const [h, w, c] = a.shape;
          const { tiles, ranges } = featureMapTiles(a.values, h, w, c, { range });
          const means = ranges.map((_, f) => {
            let s = 0;
            for (let p = 0; p < h * w; p++) s += a.values[p * c + f];
            return s / (h * w);
          });
          const body = await labelledGrid(
            tiles,
            ranges.map((r, f) => ({ title: `f${f}`, caption: [rangeText(r)] })),
            Math.min(16, Math.ceil(Math.sqrt(c * 1.5))),
          );
          const legend = await labelledPanel(colorBar('viridis'), {
            caption: [`viridis: ${num(range.min)} (dark) … ${num(range.max)} (bright), shared by all maps`],
          });
          const top = means.indexOf(Math.max(...means));
          await figs.png(
            {
              file,
              kind: 'feature-maps',
              layer: a.name,
              className: a.className,
              shape: a.shape,
              range,
              filters: ranges.map((r, f) => ({ filter: f, range: r, mean: means[f] })),
            },
            await labelledPanel(stack([body, legend]), {
              title: `${a.name} (${a.className}): ${c} feature maps, ${h}×${w}`,
              caption: [`${input.source} · value range ${rangeText(range)} · most active filter f${top}`],
            }),
          );
          summary.push({ layer: a.name, className: a.className, shape: a.shape, ...range, top, file });
        } else {
          const values = [...a.values];
          const top = values.indexOf(Math.max(...values));
          const { image } = barStrip(a.values, { highlight: top });
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
              title: `${a.name} (${a.className}): ${a.shape[0]} units`,
              caption: [
                `value range ${rangeText(range)} · bars from 0 (blue +, red −) · highest unit ${top} (orange) = ${num(values[top])}`,
                a.name === 'logits' && values.length === run.classNames.length
                  ? `units left→right = classes ${run.classNames.join(', ')} · highest: ${run.classNames[top]}`
                  : `units 0…${values.length - 1} left→right`,
              ],
              minWidth: 320,
            }),
          );
          summary.push({ layer: a.name, className: a.className, shape: a.shape, ...range, top, file });
        }
      }
      await writeJsonAtomic(`${dir}/index.json`, {
        command: 'activations',
        run: o.run,
        model: run.model.name,
        input: {
          source: input.source,
          label: input.label,
          className: input.label !== undefined ? run.classNames[input.label] : undefined,
        },
        files: figs.entries,
      });
    });
    return { input: input.source, label: input.label, layers: summary, out: o.out };
  } finally {
    run.model.dispose();
  }
}

export function formatActivations(r: Awaited<ReturnType<typeof activationsCommand>>): string {
  const lines = [`activations of ${r.input}${r.label !== undefined ? ` (label ${r.label})` : ''} → ${r.out}`];
  for (const l of r.layers) {
    lines.push(
      `  ${l.layer.padEnd(10)} ${l.className.padEnd(14)} [${l.shape.join('×')}]`.padEnd(48) +
        ` range [${num(l.min)}, ${num(l.max)}]  top ${l.shape.length === 3 ? 'filter' : 'unit'} ${l.top}  ${l.file}`,
    );
  }
  return lines.join('\n');
}
