/** The lab's data, rebuilt exactly as its training run sees it (same seeded split and limit). */
import { downloadProgress } from '../progress/download-progress.ts';
import { type DataPlan, planData } from '../train/data-plan.ts';
import type { LabContext } from './types.ts';

export const VAL_FRACTION = 0.2;

export function labPlan(ctx: LabContext): Promise<DataPlan> {
  const s = ctx.settings;
  return planData({
    dataset: s.dataset,
    dataDir: ctx.dataDir,
    download: ctx.download,
    downloadOptions: downloadProgress(ctx.log),
    valFraction: VAL_FRACTION,
    seed: s.seed,
    limit: s.trainLimit,
    scaling: 'unit',
  });
}

/** The held-out set the test stage evaluates: the test split, or the validation split when training came from it. */
export const heldOut = (plan: DataPlan) => plan.test ?? plan.val;

export const classNamesOf = (plan: DataPlan) =>
  plan.train.classNames ?? Array.from({ length: plan.train.numClasses }, (_, i) => String(i));
