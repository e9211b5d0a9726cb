/** Terminal summaries of the inside-the-network jobs. */
import { num, rangeText } from '../figures/panels.ts';
import type { ActivationsResult } from '../tasks/activations.ts';
import type { FiltersResult } from '../tasks/filters.ts';
import type { ReceptiveFieldResult } from '../tasks/receptive-field.ts';
import type { StatsSummary } from '../tasks/stats.ts';

const leftOut = (omitted: string[]) =>
  omitted.length
    ? [
        `  left out by default: ${omitted.length} layer(s) (${omitted.slice(0, 6).join(', ')}${omitted.length > 6 ? ', …' : ''}); pick with --layers`,
      ]
    : [];

export function formatActivations(r: ActivationsResult): string {
  const lines = [
    `activations of ${r.input}${r.label !== undefined ? ` (label ${r.className ?? r.label})` : ''} → ${r.out}`,
  ];
  for (const l of r.layers) {
    lines.push(
      `  ${l.layer.padEnd(10)} ${l.className.padEnd(14)} [${l.shape.join('×')}]`.padEnd(48) +
        ` range [${num(l.min)}, ${num(l.max)}]  top ${l.shape.length === 3 ? 'filter' : 'unit'} ${l.top}  ${l.file}` +
        (l.shown !== undefined ? `  (maps 0–${l.shown - 1} drawn)` : ''),
    );
  }
  return [...lines, ...leftOut(r.omitted)].join('\n');
}

export function formatFilters(r: FiltersResult): string {
  return [
    `filters → ${r.out}`,
    ...r.layers.map(
      (l) =>
        `  ${l.layer.padEnd(10)} ${String(l.filters).padStart(4)} filters ${l.kernel.padEnd(10)} range ${rangeText(l.range)}  ${l.file}` +
        (l.shown !== undefined ? `  (0–${l.shown - 1} drawn)` : ''),
    ),
    ...leftOut(r.omitted),
  ].join('\n');
}

export function formatReceptiveFields(r: ReceptiveFieldResult): string {
  const lines = [
    `receptive fields of ${r.model} (input ${r.inputShape.join('×')}); unit (y, x) sees rows start + y·jump … + size − 1`,
    'layer           class                 output   size     jump   start',
  ];
  for (const f of r.layers) {
    const ax = (
      a: { size: number; jump: number; start: number },
      b: typeof a,
      k: 'size' | 'jump' | 'start',
    ) => (a[k] === b[k] ? String(a[k]) : `${a[k]}×${b[k]}`);
    lines.push(
      `${f.layer.padEnd(15)} ${f.className.padEnd(21)} ${(f.outSize ? f.outSize.join('×') : '-').padEnd(8)} ` +
        (f.global
          ? 'whole input'
          : `${ax(f.rows, f.cols, 'size').padEnd(8)} ${ax(f.rows, f.cols, 'jump').padEnd(6)} ${ax(f.rows, f.cols, 'start')}`),
    );
  }
  return lines.join('\n');
}

export function formatStats(s: StatsSummary): string {
  return [
    `statistics over ${s.images} images (shards ${s.shards}) in ${s.seconds.toFixed(1)} s (${Math.round(s.imagesPerSecond)} img/s) → ${s.out}`,
    `  classes: ${s.classes}, ${s.labels === 'predicted' ? "the model's predicted class of each image (no labels)" : "the images' labels"}`,
    ...s.layers.map(
      (l) =>
        `  ${l.layer.padEnd(10)} [${l.shape.join('×')}]`.padEnd(32) +
        ` class means, top-k${l.classMaps ? ', mean maps' : ''}${l.modeMaps ? ', mode maps' : ''}`,
    ),
    ...leftOut(s.omittedLayers),
    `  files: ${s.files.join(', ')}`,
  ].join('\n');
}
