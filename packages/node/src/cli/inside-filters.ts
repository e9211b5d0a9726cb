/** `convlens filters`: every Conv2D layer's kernels as labelled images on a shared symmetric scale. */
import { type BackendName, initBackend } from '@convlens/core/engine/backend';
import { convLayerNames, layerFilters } from '@convlens/core/inspect/filters';
import { grid } from '@convlens/core/render/image';
import { filterTiles } from '@convlens/core/render/inside-filters';
import { colorBar } from '@convlens/core/render/inside-legend';
import { writeDirAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { labelledPanel } from '../io/png.ts';
import { loadRun } from '../train/load-run.ts';
import { checkOutDir, FigureSet, num, rangeText, safeName, stack } from './inside-figures.ts';

export interface FiltersOptions {
  run: string;
  out: string;
  backend: BackendName;
}

export async function filtersCommand(o: FiltersOptions, log: (s: string) => void) {
  await checkOutDir(o.out);
  await initBackend(o.backend);
  const run = await loadRun(o.run);
  try {
    const names = convLayerNames(run.model);
    if (names.length === 0) throw new Error(`model '${run.model.name}' has no Conv2D layer`);
    const layers: {
      layer: string;
      kernel: string;
      filters: number;
      range: { min: number; max: number };
      file: string;
    }[] = [];
    await writeDirAtomic(o.out, async (dir) => {
      const figs = new FigureSet(dir);
      for (const name of names) {
        const f = layerFilters(run.model, name);
        const rgb = f.inChannels === 3;
        // One row per output filter: its per-channel kernels side by side (or one RGB image).
        const rows = await Promise.all(
          Array.from({ length: f.filters }, async (_, i) => {
            const tiles = filterTiles(f, i);
            return labelledPanel(grid(tiles, { columns: Math.min(tiles.length, 32), gap: 1 }), {
              title: `f${i}`,
              fontSize: 10,
            });
          }),
        );
        const body = grid(rows, {
          columns: rgb || f.inChannels === 1 ? 16 : f.inChannels <= 8 ? 4 : 1,
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
        const file = `filters-${safeName(name)}.png`;
        await figs.png(
          {
            file,
            kind: 'filters',
            layer: name,
            kernel: [f.kh, f.kw],
            inChannels: f.inChannels,
            filters: f.filters,
            layout: rgb
              ? 'one RGB image per filter'
              : 'per filter: one kernel per input channel, left to right',
            range: f.range,
          },
          await labelledPanel(stack([body, legend]), {
            title: `${name}: ${f.filters} filters, ${f.kh}×${f.kw}×${f.inChannels}`,
            caption: [`shared symmetric weight range ${rangeText(f.range)}`],
          }),
        );
        layers.push({
          layer: name,
          kernel: `${f.kh}×${f.kw}×${f.inChannels}`,
          filters: f.filters,
          range: f.range,
          file,
        });
        log(`filters: ${name} done`);
      }
      await writeJsonAtomic(`${dir}/index.json`, {
        command: 'filters',
        run: o.run,
        model: run.model.name,
        files: figs.entries,
      });
    });
    return { out: o.out, layers };
  } finally {
    run.model.dispose();
  }
}

export function formatFilters(r: Awaited<ReturnType<typeof filtersCommand>>): string {
  return [
    `filters → ${r.out}`,
    ...r.layers.map(
      (l) =>
        `  ${l.layer.padEnd(10)} ${String(l.filters).padStart(4)} filters ${l.kernel.padEnd(10)} range ${rangeText(l.range)}  ${l.file}`,
    ),
  ].join('\n');
}
