/**
 * Stage 6 (part 3, explanations): every method registered in the issue-7 registry, side by side on
 * chosen digits (rows = methods, columns = digits); the lab's expected methods that are not
 * registered yet are listed as "not available yet".
 */
import { explainMethods } from '@convlens/core/methods/explain/registry';
import type { Explanation } from '@convlens/core/methods/explain/types';
import { grid, type RGBAImage } from '@convlens/core/render/image';
import { stack } from '../cli/inside-figures.ts';
import { labelledPanel } from '../io/png.ts';
import { loadRun } from '../train/load-run.ts';
import { drawMap, explainBatch } from './explain.ts';
import { exampleImage, firstOfClasses, modelInput, saveFigure } from './figures.ts';
import { classNamesOf, heldOut, labPlan } from './plan.ts';
import { type Figure, Interrupted, type LabContext, type StageResult } from './types.ts';

/** The lab's methods (issue 8, part 3) by registry id, in the order the report shows them. */
export const LAB_METHODS: [string, string][] = [
  ['cam', 'CAM'],
  ['gradcam', 'Grad-CAM'],
  ['guided-gradcam', 'Guided Grad-CAM'],
  ['saliency', 'Saliency'],
  ['smoothgrad', 'SmoothGrad'],
  ['ig', 'Integrated gradients'],
  ['deconvnet', 'DeconvNet'],
  ['occlusion', 'Occlusion'],
];

export async function part3Stage(ctx: LabContext): Promise<StageResult> {
  const s = ctx.settings;
  const plan = await labPlan(ctx);
  const names = classNamesOf(plan);
  const set = heldOut(plan);
  const idx = firstOfClasses(set, s.explainDigits);
  const targets = idx.map((i) => set.labels[i]);
  const shape: [number, number, number] = [set.height, set.width, set.channels];
  const methods = explainMethods();
  const registered = new Set(methods.map((m) => m.id));
  const missing = LAB_METHODS.filter(([id]) => !registered.has(id)).map(([, t]) => t);
  const figures: Figure[] = [];
  const numbers: Record<string, unknown> = {
    digits: s.explainDigits,
    indices: idx,
    methods: {} as Record<string, unknown>,
  };
  const descriptions: (string | number)[][] = [];
  const failed: string[] = [];
  if (methods.length) {
    const run = await loadRun(ctx.runDir);
    try {
      const x = modelInput(set, idx, run.standardizer);
      const rows: RGBAImage[] = [];
      for (const m of methods) {
        if (ctx.stopRequested()) throw new Interrupted();
        const t0 = performance.now();
        let e: Explanation;
        try {
          e = await explainBatch(m, run.model, x, shape, targets);
        } catch (err) {
          // One broken method must not sink the report: say so, keep the others.
          const message = (err as Error).message.split('\n')[0];
          failed.push(`${m.title}: ${message}`);
          (numbers.methods as Record<string, unknown>)[m.id] = { error: message };
          continue;
        }
        const seconds = (performance.now() - t0) / 1000;
        (numbers.methods as Record<string, unknown>)[m.id] = {
          seconds,
          layer: e.layer,
          signed: e.signed,
          warnings: e.warnings,
          meta: e.meta,
        };
        descriptions.push([
          m.title,
          m.description,
          e.signed ? 'signed (rdbu)' : '≥ 0 (inferno)',
          seconds.toFixed(2),
        ]);
        const tiles = idx.map((i, k) => drawMap(e, k, exampleImage(set, i), 3));
        rows.push(
          await labelledPanel(
            grid(tiles, { columns: idx.length, gap: 6, background: [255, 255, 255, 255] }),
            {
              title: `${m.title}${e.layer ? ` (layer ${e.layer})` : ''}`,
              fontSize: 12,
            },
          ),
        );
      }
      if (rows.length)
        figures.push(
          await saveFigure(
            ctx.out,
            'part3/methods.png',
            await labelledPanel(stack(rows, 6), {
              title: 'Explanations for the true class: one row per method',
              caption: [
                `columns, left to right: digits ${targets.map((t) => names[t]).join(', ')} (held-out images ${idx.join(', ')})`,
                'non-negative maps: inferno over the digit, black 0 … yellow = the map’s max',
                'signed maps: blue negative, white 0, red positive (symmetric per map)',
              ],
            }),
            'Explanation methods side by side',
          ),
        );
    } finally {
      run.model.dispose();
    }
  }
  return {
    figures,
    notes: [
      ...(missing.length
        ? [`Not available yet: ${missing.join(', ')} (not registered in methods/explain/registry.ts).`]
        : []),
      'Fine-tuned GAP model for CAM and the faithfulness table (deletion/insertion AUC, sanity check): not available yet.',
    ],
    tables: descriptions.length
      ? [{ title: 'Methods', header: ['method', 'what it shows', 'map', 'seconds'], rows: descriptions }]
      : [],
    numbers: { ...numbers, missing },
  };
}
