/**
 * Stage 5 (part 2, activation maximization) through `convlens maximize`: every class over a
 * tv-weight sweep (the chosen weight by a stated rule), conv filters and dense units at that weight,
 * and the lab's class pairs maximized together.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULTS } from '@convlens/core/methods/actmax/optimize';
import { grid } from '@convlens/core/render/image';
import { ensureDir } from '../io/ensure-dir.ts';
import { type MaximizeCliOptions, maximizeCommand } from '../tasks/maximize.ts';
import { loadRun } from '../train/load-run.ts';
import { existingFigure, readPng, saveFigure } from './figures.ts';
import { CLASS_PAIRS, TV_RULE_PROBABILITY } from './settings.ts';
import { type Figure, Interrupted, type LabContext, type StageResult } from './types.ts';

interface Cell {
  file: string;
  row: number;
  col: number;
  tvWeight: number;
  targetProbability: number | null;
}

/**
 * The chosen weight: the largest tv weight at which every class's maximization keeps ≥ 0.9 softmax
 * probability; if none does, the weight with the highest minimum probability.
 */
export function chooseTvWeight(weights: number[], minProbability: number[], threshold = TV_RULE_PROBABILITY) {
  let chosen = -1;
  weights.forEach((w, i) => {
    if (minProbability[i] >= threshold && (chosen < 0 || w > weights[chosen])) chosen = i;
  });
  const byRule = chosen >= 0;
  if (!byRule) chosen = minProbability.indexOf(Math.max(...minProbability));
  return { index: chosen, weight: weights[chosen], byRule };
}

/** TV weight for conv filter maximizations (their objectives are far smaller than class scores). */
export const FILTER_TV = 0.1;

export async function part2Stage(ctx: LabContext): Promise<StageResult> {
  const s = ctx.settings;
  const base: Omit<MaximizeCliOptions, 'out'> = {
    run: ctx.runDir,
    tv: DEFAULTS.tvWeight,
    lp: DEFAULTS.lpWeight,
    steps: s.actmaxSteps,
    lr: DEFAULTS.learningRate,
    optimizer: DEFAULTS.optimizer,
    jitter: 1,
    scale: 0,
    rotate: 0,
    blurEvery: 0,
    blurSigma: DEFAULTS.blurSigma,
    param: 'pixel',
    seed: s.seed,
    backend: s.backend,
  };
  // The sub-commands' own summaries would bury the lab's stage lines; their progress bars still show.
  const quiet = (_line: string) => {};
  const run = async (rel: string, o: Partial<MaximizeCliOptions>) => {
    if (ctx.stopRequested()) throw new Interrupted();
    const out = join(ctx.out, 'figures/part2', rel);
    await ensureDir(out);
    return maximizeCommand({ ...base, ...o, out }, quiet);
  };

  const sweep = await run('sweep', { class: 'all', sweepTv: s.tvWeights });
  const cells = sweep.files as unknown as Cell[];
  const rows = Math.max(...cells.map((c) => c.row)) + 1;
  const prob = (r: number, c: number) =>
    cells.find((x) => x.row === r && x.col === c)!.targetProbability ?? 0;
  const minP = s.tvWeights.map((_, c) => Math.min(...Array.from({ length: rows }, (_, r) => prob(r, c))));
  const chosen = chooseTvWeight(s.tvWeights, minP);
  const figures: Figure[] = [
    await existingFigure(
      ctx.out,
      'figures/part2/sweep/grid.png',
      'TV-weight sweep: every class (rows) × total-variation weight (columns)',
      `Chosen weight: ${chosen.weight} (${chosen.byRule ? `the largest weight keeping every class at ≥ ${TV_RULE_PROBABILITY} probability` : `no weight kept every class at ≥ ${TV_RULE_PROBABILITY}; the one with the highest minimum probability`}). Highlighted in the table below.`,
    ),
  ];
  const model = (await loadRun(ctx.runDir)).model;
  const convs = model.layers.filter((l) => l.getClassName() === 'Conv2D');
  const denses = model.layers.filter((l) => l.getClassName() === 'Dense' && l.name !== 'logits');
  const shapes = new Map(model.layers.map((l) => [l.name, l.outputShape as number[]]));
  model.dispose();
  const layerFigs: Figure[] = [];
  const layerRuns: Record<string, unknown> = {};
  for (const l of [...convs, ...denses]) {
    const shape = shapes.get(l.name) ?? [];
    const n = Math.min(s.filtersPerLayer, shape.at(-1) ?? 0);
    const idx = Array.from({ length: n }, (_, i) => i);
    const isConv = l.getClassName() === 'Conv2D';
    // A conv filter's mean over all positions is maximized by near-flat images; its unit at the
    // centre shows the pattern it detects within its receptive field.
    const centre: [number, number] | undefined = isConv
      ? [Math.floor(shape[1] / 2), Math.floor(shape[2] / 2)]
      : undefined;
    const tv = isConv ? FILTER_TV : chosen.weight;
    const rel = `layer-${l.name}`;
    const r = await run(rel, {
      layer: l.name,
      ...(isConv ? { filter: idx, position: centre } : { unit: idx }),
      tv,
    });
    layerRuns[l.name] = { tvWeight: tv, position: centre ?? null, ...r.summary };
    const panels = await Promise.all(
      (r.files as { file: string }[]).map((f) => readPng(join(ctx.out, 'figures/part2', rel, f.file))),
    );
    layerFigs.push(
      await saveFigure(
        ctx.out,
        `part2/${rel}.png`,
        grid(panels, { columns: Math.min(4, panels.length), gap: 6, background: [255, 255, 255, 255] }),
        isConv
          ? `Conv filters of ${l.name}: filters 0–${n - 1}, unit at the centre (${centre!.join(', ')})`
          : `Dense units of ${l.name}: units 0–${n - 1}`,
        isConv
          ? `Each image maximizes one filter's activation at the centre of the map (tv ${tv}: filter activations are ~100× smaller than class scores, so the class weight would flatten them).`
          : `Each image maximizes one unit (tv ${tv}, the chosen weight).`,
      ),
    );
  }
  const pairFigs: Figure[] = [];
  const pairs: Record<string, unknown>[] = [];
  for (const [a, b] of CLASS_PAIRS) {
    const r = await run(`pair-${a}-${b}`, { class: `${a},${b}`, together: true, tv: chosen.weight });
    const f = r.files[0] as Record<string, unknown>;
    pairs.push({ pair: [a, b], predicted: f.predicted, objective: f.objective, file: f.file });
    pairFigs.push(
      await existingFigure(ctx.out, `figures/part2/pair-${a}-${b}/${f.file}`, `Classes ${a} & ${b} together`),
    );
  }
  // Probabilities of every class at the chosen weight, from the sweep's own index.
  const sweepIndex = JSON.parse(await readFile(join(ctx.out, 'figures/part2/sweep/index.json'), 'utf8'));
  return {
    figures: [
      ...figures.map((f) => ({ ...f, group: 'Every class over the tv-weight sweep' })),
      ...layerFigs.map((f) => ({ ...f, group: 'Conv filters and dense units' })),
      ...pairFigs.map((f) => ({ ...f, group: `Pairs of classes maximized together (tv ${chosen.weight})` })),
    ],
    tables: [
      {
        title: `Target probability per class and tv weight (chosen: ${chosen.weight})`,
        header: ['class', ...s.tvWeights.map((w, i) => (i === chosen.index ? `★ tv ${w}` : `tv ${w}`))],
        rows: [
          ...Array.from({ length: rows }, (_, r) => [
            String(r),
            ...s.tvWeights.map((_, c) => prob(r, c).toFixed(3)),
          ]),
          ['min', ...minP.map((p) => p.toFixed(3))],
          ['mean TV', ...(sweepIndex.summary.meanTotalVariation as number[]).map((v) => v.toFixed(3))],
        ],
      },
    ],
    notes: [
      `Activation maximization of the pre-softmax class score (keras-vis style), ${s.actmaxSteps} Adam steps (lr ${DEFAULTS.learningRate}), 1-pixel jitter, start from seeded noise. Rule for the tv weight: the largest weight that keeps every class's maximization at ≥ ${TV_RULE_PROBABILITY} softmax probability (else the one with the highest minimum).`,
    ],
    numbers: {
      steps: s.actmaxSteps,
      tvWeights: s.tvWeights,
      rule: `largest tv weight with min class probability >= ${TV_RULE_PROBABILITY}`,
      chosenTvWeight: chosen.weight,
      chosenByRule: chosen.byRule,
      minProbability: minP,
      sweep: sweepIndex.summary,
      cells: cells.map((c) => ({ class: c.row, tvWeight: c.tvWeight, probability: c.targetProbability })),
      layers: layerRuns,
      pairs,
    },
  };
}
