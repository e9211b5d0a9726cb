/**
 * The lab's weight sweep: objectives (usually all classes) × total-variation weights. Each weight is one
 * batched run over all objectives with the same seed, so columns differ only by the weight.
 */
import type * as tf from '@tensorflow/tfjs';
import type { JobHooks } from '../../jobs/job.ts';
import type { Objective } from './objective.ts';
import { type MaximizeOptions, type MaximizeResult, maximize } from './optimize.ts';

/** The lab's tv_weight values: 0, then 0.125 doubling to 16. */
export const LAB_TV_WEIGHTS = [0, 0.125, 0.25, 0.5, 1, 2, 4, 8, 16];

export interface SweepCell {
  /** Row (objective) and column (weight) indices. */
  row: number;
  col: number;
  tvWeight: number;
  /** Final objective on the result. */
  objective: number;
  /** Softmax probability of the objective's first class term (null without one). */
  targetProbability: number | null;
  predicted: number;
  /** keras-vis total variation of the result. */
  totalVariation: number;
  /** In the input range ([0, 1] pixels with `preprocess`). */
  image: Float32Array;
  /** The model input the numbers are of. */
  input: Float32Array;
  curve: number[];
}

export interface SweepResult {
  tvWeights: number[];
  /** cells[row][col]. */
  cells: SweepCell[][];
  shape: [number, number, number];
  /** Mean total variation per weight (column): the smoothing the weight buys. */
  meanTotalVariation: number[];
  seconds: number;
  /** Stopped by shouldStop(): the stopped column holds its result so far, later columns are absent. */
  stopped: boolean;
}

export async function sweepTv(
  model: tf.LayersModel,
  objectives: Objective[],
  tvWeights: number[],
  options: Omit<MaximizeOptions, 'tvWeight'> & { onRun?: (col: number, result: MaximizeResult) => void } = {},
  /** Progress in steps over the whole sweep (steps × weights); a stop ends the current column early. */
  hooks: JobHooks = {},
): Promise<SweepResult> {
  if (tvWeights.length === 0) throw new Error('the sweep needs at least one tv weight');
  for (const wt of tvWeights)
    if (!(Number.isFinite(wt) && wt >= 0)) throw new Error(`tv weights must be finite and ≥ 0, got ${wt}`);
  const cells: SweepCell[][] = objectives.map(() => []);
  let shape: [number, number, number] = [0, 0, 0];
  let seconds = 0;
  const { onRun, ...rest } = options;
  let stopped = false;
  for (const [col, tvWeight] of tvWeights.entries()) {
    if (col > 0 && hooks.shouldStop?.()) {
      stopped = true;
      break;
    }
    const r = await maximize(
      model,
      objectives,
      { ...rest, tvWeight },
      {
        ...hooks,
        onProgress: (done, total, detail) =>
          hooks.onProgress?.(col * total + done, tvWeights.length * total, { ...detail, tv: tvWeight }),
      },
    );
    shape = r.shape;
    seconds += r.seconds;
    objectives.forEach((_, row) => {
      cells[row].push({
        row,
        col,
        tvWeight,
        objective: r.objective[row],
        targetProbability: r.targetProbability[row],
        predicted: r.predicted[row],
        totalVariation: r.totalVariation[row],
        image: r.images[row],
        input: r.inputs[row],
        curve: r.curves[row],
      });
    });
    onRun?.(col, r);
    if (r.stopped) {
      stopped = true;
      break;
    }
  }
  const meanTotalVariation = cells[0].map(
    (_, col) => cells.reduce((s, row) => s + row[col].totalVariation, 0) / cells.length,
  );
  return { tvWeights, cells, shape, meanTotalVariation, seconds, stopped };
}
