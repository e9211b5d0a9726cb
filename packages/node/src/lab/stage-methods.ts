/**
 * Lab section "Which map to trust": the auto ranking (tasks/method-choice.ts) of every method × candidate
 * layer against the controls on a few held-out images — faithfulness score, deletion, insertion,
 * randomisation ρ, time per image, verdict — with the metrics' disagreements and the chosen default map
 * with its reason. Both labs: the zoo lab on its trained run, the pretrained lab on its model and data.
 */
import { join } from 'node:path';
import { explainMethods } from '@convlens/core/methods/explain/registry';
import { openDataset } from '../open/open-dataset.ts';
import { openModel } from '../open/open-model.ts';
import { type AutoRanking, rankForModel } from '../tasks/method-choice.ts';
import { stageKey } from './settings.ts';
import type { LabContext, StageResult } from './types.ts';

export const METHODS_SECTION = {
  id: 'methods',
  title: '6b. Which map to trust',
  explain: [
    'convlens ranks every explanation method (and, for the CAM family, each candidate layer) on held-out images against controls that know nothing about the decision: a random map, RandomCAM (random channel weights) and a Sobel edge map. A method must beat all of them on the faithfulness metrics (deleting the pixels it ranks first must make the score fall fast; inserting them must make it rise) and pass the randomisation test (its maps must change when the model’s weights are re-drawn). Where the metrics disagree — a method that wins on deletion but fails randomisation is not trustworthy — the report says so. The chosen default map is the best faithfulness score among the trusted methods; ms/img is its cost on this machine.',
  ],
};

const f3 = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v.toFixed(3));

/** Sample size and steps: small, the ranking runs every method on each image. */
function budget(ctx: LabContext, big: boolean) {
  const quick = ctx.settings.quick;
  return { sample: big ? (quick ? 2 : 4) : quick ? 4 : 16, steps: quick ? 5 : 10 };
}

export function methodsStageKey(base: unknown[]): string {
  return stageKey('methods', [base, explainMethods().map((m) => m.id), 'v1']);
}

export function rankingResult(r: AutoRanking): StageResult {
  const rows = r.rows.map((row) => [
    `${row.layer ? `${row.method} @ ${row.layer}` : row.method}${row.control ? ' (control)' : ''}`,
    f3(row.familyScores.faithfulness),
    f3(row.means.deletion),
    f3(row.means.insertion),
    f3(row.sanity?.correlation),
    row.msPerImage === null ? '-' : row.msPerImage.toFixed(1),
    row.control ? 'control' : row.trusted ? 'trusted' : row.flags.join('; '),
  ]);
  return {
    figures: [],
    notes: [
      r.choice ? `Default map: ${r.choice.reason}` : 'No method produced a map on the sample.',
      ...r.disagreements.map((d) => `Disagreement: ${d}`),
      `${r.sample} held-out images of ${r.set} (seed ${r.seed}); ranking computed in ${r.seconds.toFixed(1)} s.`,
    ],
    tables: [
      {
        title: 'Methods × layers ranked against the controls (trusted first)',
        header: [
          'method',
          'faithfulness score ↑',
          'deletion AUC ↓',
          'insertion AUC ↑',
          'randomisation ρ ↓',
          'ms/img',
          'verdict',
        ],
        rows,
      },
    ],
    numbers: {
      choice: r.choice ?? null,
      disagreements: r.disagreements,
      sample: r.sample,
      seconds: r.seconds,
      rows: r.rows.map((x) => ({
        key: x.key,
        control: x.control,
        trusted: x.trusted,
        faithfulness: x.familyScores.faithfulness ?? null,
        deletion: x.means.deletion ?? null,
        insertion: x.means.insertion ?? null,
        randomisation: x.sanity?.correlation ?? null,
        msPerImage: x.msPerImage,
        flags: x.flags,
      })),
    },
  };
}

/** The zoo lab: the trained run and its held-out split. */
export async function methodsStage(ctx: LabContext): Promise<StageResult> {
  const model = await openModel(ctx.runDir);
  try {
    const data = await openDataset(undefined, model, { dataDir: ctx.dataDir });
    const job = ctx.job?.('method ranking', 'chunk');
    try {
      const b = budget(ctx, false);
      const r = await rankForModel(
        model,
        data,
        { ...b, seed: ctx.settings.seed, cacheDir: join(ctx.out, 'method-ranking') },
        { ...job, log: ctx.log, shouldStop: ctx.stopRequested },
      );
      return rankingResult(r);
    } finally {
      job?.close();
    }
  } finally {
    model.dispose();
  }
}

/** The pretrained lab: its model on the images it uses. */
export async function ptMethodsStage(ctx: LabContext): Promise<StageResult> {
  const p = ctx.pretrained!;
  const big = p.model.inputShape[0] > 64;
  const job = ctx.job?.('method ranking', 'chunk');
  try {
    const r = await rankForModel(
      p.model,
      p.data,
      { ...budget(ctx, big), seed: ctx.settings.seed, cacheDir: join(ctx.out, 'method-ranking') },
      { ...job, log: ctx.log, shouldStop: ctx.stopRequested },
    );
    return rankingResult(r);
  } finally {
    job?.close();
  }
}
