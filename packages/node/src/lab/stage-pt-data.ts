/**
 * Stage 1 on a pretrained model: the dataset as given — where it came from, how its labels map onto
 * the model's classes, counts per class, and sample images as the model sees them (at its input size,
 * after its resize policy).
 */
import { grid } from '@convlens/core/render/image';
import { stack } from '../figures/panels.ts';
import { labelledPanel } from '../io/png.ts';
import { exampleImage, fitImage, saveFigure } from './figures.ts';
import { className } from './pretrained.ts';
import type { LabContext, StageResult } from './types.ts';

/** Sample rows (classes) and images per row. */
const ROWS = 12;
const PER_ROW = 8;
const TILE = 112;

/** Images per model class among `indices` (model class index → those indices), in class order. */
export function byClass(labels: ArrayLike<number>, indices: number[]): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const i of indices) {
    const c = labels[i];
    if (!m.has(c)) m.set(c, []);
    m.get(c)!.push(i);
  }
  return new Map([...m.entries()].sort((a, b) => a[0] - b[0]));
}

export async function ptDataStage(ctx: LabContext): Promise<StageResult> {
  const { model, data, full, settings: p } = ctx.pretrained!;
  const all = Array.from({ length: data.count }, (_, i) => i);
  const classes = data.labelled ? byClass(data.labels, all) : new Map([[-1, all]]);
  const rows = [];
  for (const [c, members] of [...classes.entries()].slice(0, ROWS)) {
    const chunk = await data.read(members.slice(0, PER_ROW));
    const tiles = await Promise.all(
      Array.from({ length: chunk.set.count }, (_, k) => fitImage(exampleImage(chunk.set, k), TILE)),
    );
    rows.push(
      await labelledPanel(grid(tiles, { columns: PER_ROW, gap: 3, background: [255, 255, 255, 255] }), {
        title:
          c < 0
            ? `unlabelled: the first ${tiles.length} images`
            : `${className(model, c) === String(c) ? `class ${c}` : `${className(model, c)} (class ${c})`}: ${members.length} image${members.length === 1 ? '' : 's'}`,
        fontSize: 12,
        minWidth: 300,
      }),
    );
  }
  const [h, w, ch] = model.inputShape;
  const sample = await saveFigure(
    ctx.out,
    'data/samples.png',
    stack(rows, 6),
    data.labelled ? 'Samples, one row per class' : 'Samples',
    `The first ${PER_ROW} images of ${classes.size > ROWS ? `the first ${ROWS} of ${classes.size} classes` : 'every class'}, as the model sees them: ${w}×${h}${ch === 1 ? ' greyscale' : ''} after its resize policy, shown at ${TILE} px.`,
  );
  const perClass = [...classes.entries()].map(([c, members]) => ({
    class: c,
    name: c < 0 ? 'unlabelled' : model.classNames[c],
    count: members.length,
  }));
  const notes = [
    `Dataset: ${full.description}.`,
    `Model: ${p.source} (${p.kind}), input ${h}×${w}×${ch}, ${p.numClasses} classes${p.named ? ' with names' : ' (no class names: indices)'}; preprocessing ${p.preprocess}; class scores read as ${p.scores}.`,
    p.limit !== undefined && p.images < full.count
      ? `--limit ${p.limit}: the lab uses ${p.images} of the ${full.count} images, evenly spaced through the listing (every class keeps its share).`
      : `The lab uses all ${full.count} images.`,
    ...(data.skipped.length
      ? [
          `Skipped as unreadable: ${data.skipped.length} file(s) (${data.skipped
            .slice(0, 3)
            .map((s) => s.path)
            .join(', ')}${data.skipped.length > 3 ? ', …' : ''}).`,
        ]
      : []),
    ...(data.labelled
      ? []
      : ['The images have no labels: accuracy and per-class statistics need labels and are left out.']),
  ];
  return {
    figures: [{ ...sample, smooth: true }],
    notes,
    tables: data.labelled
      ? [
          {
            title: 'Images per class',
            header: ['class', 'model index', 'images'],
            rows: perClass.map((r) => [r.name, r.class, r.count]),
          },
        ]
      : [],
    numbers: {
      dataset: full.name,
      kind: full.kind,
      description: full.description,
      count: full.count,
      used: data.count,
      labelled: data.labelled,
      classes: perClass,
      skipped: data.skipped,
      imageShape: [h, w, ch],
      model: {
        source: p.source,
        kind: p.kind,
        fingerprint: p.fingerprint,
        numClasses: p.numClasses,
        named: p.named,
        preprocess: p.preprocess,
        scores: p.scores,
      },
    },
  };
}
