/**
 * Stage 5 on a pretrained model (part 2, activation maximization) through the maximize task, with its
 * defaults for the model (Lucid's recipe for RGB and large inputs: decorrelated Fourier
 * parameterization, jitter, scale and rotation, logits): the chosen classes, then a few units at the
 * centre of each chosen layer.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { grid, type RGBAImage } from '@convlens/core/render/image';
import { labelledGrid } from '../figures/panels.ts';
import { labelledPanel } from '../io/png.ts';
import { type MaximizeIndex, type MaximizeTaskOptions, maximizeTask } from '../tasks/maximize.ts';
import { existingFigure, fitImage, readPng, saveFigure } from './figures.ts';
import { className } from './pretrained.ts';
import { taskHooks } from './stage-pt-inside.ts';
import { type Figure, Interrupted, type LabContext, type StageResult } from './types.ts';

const UNIT_TILE = 160;

export async function ptMaximizeStage(ctx: LabContext): Promise<StageResult> {
  const { model, settings: p } = ctx.pretrained!;
  const run = async (rel: string, label: string, o: Omit<MaximizeTaskOptions, 'out'>) => {
    if (ctx.stopRequested()) throw new Interrupted();
    const h = taskHooks(ctx, label, 'steps');
    const out = join(ctx.out, 'figures/part2', rel);
    let r: MaximizeIndex;
    try {
      r = await maximizeTask(model, { steps: p.actmaxSteps, seed: ctx.settings.seed, ...o, out }, h);
    } finally {
      h.close();
    }
    // A stopped optimization returns what it had: not a result to cache.
    if (r.stopped) throw new Interrupted();
    // The float inputs (.npy, 600 kB each at 224×224×3) are a third of the report's bytes; the 8-bit
    // PNG inputs stay (their probabilities are in the table).
    await Promise.all(r.files.map((f) => rm(join(out, f.input.npy), { force: true })));
    return r;
  };
  const classes = await run('classes', 'maximize classes', { class: p.classes.join(',') });
  const figures: Figure[] = [
    {
      ...(await existingFigure(
        ctx.out,
        `figures/part2/classes/${classes.grid}`,
        `Classes ${p.classes.map((c) => className(model, c)).join(', ')}`,
        `${p.classesWhy}; the probability under each image is the model’s softmax for its class.`,
      )),
      group: 'Classes',
      smooth: true,
    },
  ];
  const layers: Record<string, unknown> = {};
  const unitRows: RGBAImage[] = [];
  const shapes = new Map(model.model.layers.map((l) => [l.name, l.outputShape as number[]]));
  for (const layer of p.unitLayers) {
    const shape = shapes.get(layer) ?? [];
    const n = Math.min(p.filtersPerLayer, shape.at(-1) ?? 0);
    // A filter's mean over all positions is maximized by a texture; its unit at the centre shows the
    // pattern it detects within its receptive field.
    const position: [number, number] = [Math.floor(shape[1] / 2), Math.floor(shape[2] / 2)];
    const rel = `layer-${layer}`;
    const r = await run(rel, `maximize ${layer}`, {
      layer,
      filter: Array.from({ length: n }, (_, i) => i),
      position,
      steps: p.unitSteps,
    });
    layers[layer] = { filters: n, position, summary: r.summary, objective: r.files.map((f) => f.objective) };
    // The synthesized inputs themselves (the task's captioned grid repeats the model path per layer).
    const tiles = await Promise.all(
      r.files.map(async (f) =>
        fitImage(await readPng(join(ctx.out, 'figures/part2', rel, f.input.png)), UNIT_TILE),
      ),
    );
    unitRows.push(
      await labelledPanel(
        await labelledGrid(
          tiles,
          r.files.map((f, i) => ({ title: `filter ${i}`, caption: [`objective ${f.objective.toFixed(2)}`] })),
          tiles.length,
        ),
        { title: `${layer}: unit at (${position.join(', ')}) of ${shape[1]}×${shape[2]}`, fontSize: 12 },
      ),
    );
  }
  figures.push({
    ...(await saveFigure(
      ctx.out,
      'part2/units.png',
      grid(unitRows, { columns: 2, gap: 16, background: [255, 255, 255, 255] }),
      `Units at the centre of the chosen layers (${p.filtersPerLayer} filter${p.filtersPerLayer > 1 ? 's' : ''} each, ${p.unitSteps} steps)`,
      'Each image maximizes one filter’s output at the centre of its map: the pattern lies within that unit’s receptive field (deeper layers see more of the image), the grey around it does not matter to the unit.',
    )),
    group: 'Units of the chosen layers',
    smooth: true,
  });
  const o = classes.options as Record<string, unknown>;
  return {
    figures,
    notes: [
      `${classes.style === 'lucid' ? 'Lucid' : 'keras-vis'} recipe: ${o.steps} Adam steps (lr ${o.learningRate}) on a ${o.parameterization} parameterization, jitter ${o.jitter}, scale ±${o.scale}, rotation ±${o.rotate}°, maximizing the class logit (${model.scores.kind === 'logits' ? `read at ${model.scores.from}` : 'the model has no pre-softmax layer: probabilities'}).`,
      'The synthesized inputs themselves are beside each figure as 8-bit PNGs at the model’s size (inputs/*.png, in a labelled folder usable as --dataset); the float inputs (.npy) named in index.json are left out of the report to keep it small (`convlens maximize` writes them).',
      `Classes: ${p.classesWhy}${p.classes.length ? ` (choose with --classes)` : ''}. Optimizing took ${classes.summary.optimizeSeconds} s for the classes (${classes.summary.stepsPerSecond} steps/s, batch ${classes.summary.batch}).`,
    ],
    tables: [
      {
        title: 'Class maximizations',
        header: ['class', 'probability', 'probability of the 8-bit PNG', 'predicted', 'total variation'],
        rows: classes.files.map((f) => [
          className(model, f.targetClass ?? 0),
          (f.targetProbability ?? 0).toFixed(3),
          (f.pngProbability ?? 0).toFixed(3),
          className(model, f.predicted),
          f.totalVariation.toFixed(3),
        ]),
      },
    ],
    numbers: {
      style: classes.style,
      options: classes.options,
      classes: classes.files.map((f) => ({
        class: f.targetClass,
        name: f.className,
        probability: f.targetProbability,
        pngProbability: f.pngProbability,
        predicted: f.predicted,
        /** The logit at the first step and at the end: what the optimization gained. */
        objectiveStart: f.curve[0],
        objective: f.objective,
        input: `figures/part2/classes/${f.input.png}`,
      })),
      classSummary: classes.summary,
      layers,
    },
  };
}
