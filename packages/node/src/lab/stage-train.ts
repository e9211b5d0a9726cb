/**
 * Stage 2: training, one epoch at a time through `convlens train` (its checkpoints, history and
 * resume), with a snapshot of the probe images after every epoch for the timeline. A killed run
 * resumes from the last checkpoint; snapshots already taken are kept (DIR/timeline.json).
 */
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import type { tf } from '@convlens/core/engine/backend';
import { buildModel } from '@convlens/core/models/build';
import { writeDirAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { ensureDir } from '../io/ensure-dir.ts';
import { loadModel } from '../io/model-io.ts';
import { trainCommand } from '../tasks/train.ts';
import { readHistory, readJsonFile, readRunConfig, runPaths } from '../train/run-dir.ts';
import { lockRunDir } from '../train/run-lock.ts';
import { findMethod } from './explain.ts';
import { firstOfClasses, saveFigure } from './figures.ts';
import { classNamesOf, heldOut, labPlan, VAL_FRACTION } from './plan.ts';
import { stageKey } from './settings.ts';
import { epochSnapshot, SNAPSHOT_KINDS, type SnapshotKind, TIMELINE_TV } from './snapshot.ts';
import { lineChart, svgToImage } from './svg-chart.ts';
import { type Figure, Interrupted, type LabContext, type StageResult, type Timeline } from './types.ts';

interface TimelineProgress {
  key: string;
  snapshotKey: string;
  epochs: Record<
    string,
    { figures: Partial<Record<SnapshotKind, Figure>>; numbers: Record<string, unknown> }
  >;
}

const KIND_TEXT: Record<SnapshotKind, [string, string]> = {
  fmaps: [
    'Feature maps of the first conv layer',
    'Watch the maps turn from blurred copies of the digit into distinct edge and stroke detectors.',
  ],
  filters: [
    'First-layer filters',
    'Random at epoch 0 (the seeded initial weights); they settle into oriented edge and blob detectors within the first epochs.',
  ],
  actmax: [
    'Class maximizations',
    'Inputs synthesized to maximize each class score: strokes of each digit appear as the classes separate.',
  ],
  gradcam: [
    'Grad-CAM on the probe digits',
    'Where the last conv layer’s evidence for the true class lies: it should move onto the digit’s strokes.',
  ],
};

export const trainKey = (ctx: LabContext) => {
  const s = ctx.settings;
  return stageKey('train', [s.dataset, s.model, s.seed, s.epochs, s.trainLimit, s.batchSize, VAL_FRACTION]);
};

export async function trainStage(ctx: LabContext): Promise<StageResult> {
  const s = ctx.settings;
  const key = trainKey(ctx);
  // Snapshots depend on more than training (e.g. Grad-CAM getting registered): when only they
  // change, they are recomputed from the saved per-epoch models without retraining.
  const snapshotKey = stageKey('snapshots', [s.snapshotSteps, TIMELINE_TV, !!findMethod('gradcam')]);
  const progressPath = join(ctx.out, 'timeline.json');
  const epochDir = (e: number) => join(ctx.out, 'epochs', `e${String(e).padStart(2, '0')}`);
  const saved = await readJsonFile<TimelineProgress>(progressPath, 'timeline').catch(() => undefined);
  let done = 0;
  const existing = await readRunConfig(ctx.runDir).catch(() => undefined);
  const progress: TimelineProgress =
    saved?.key === key && existing ? saved : { key, snapshotKey, epochs: {} };
  if (progress === saved) {
    done = (await readHistory(ctx.runDir).catch(() => undefined))?.records.length ?? 0;
    if (done > 0) ctx.log(`lab: training done up to epoch ${done} (checkpoint in ${ctx.runDir})`);
    if (progress.snapshotKey !== snapshotKey) progress.epochs = {};
    progress.snapshotKey = snapshotKey;
  }
  const plan = await labPlan(ctx);
  const names = classNamesOf(plan);
  const probeSet = heldOut(plan);
  const probes = {
    set: probeSet,
    indices: firstOfClasses(
      probeSet,
      names.map((_, k) => k),
    ),
    names,
    standardizer: plan.standardizer,
  };
  const shape: [number, number, number] = [plan.train.height, plan.train.width, plan.train.channels];

  /** Epoch e's model: the seeded initial one for 0, else its saved copy (undefined when lost). */
  const epochModel = async (e: number): Promise<tf.LayersModel | undefined> => {
    if (e === 0)
      return buildModel(s.model, { inputShape: shape, numClasses: plan.train.numClasses, seed: s.seed });
    return loadModel(epochDir(e)).then(
      (m) => m.model,
      () => undefined,
    );
  };
  const snapshot = async (e: number) => {
    const model = await epochModel(e);
    if (!model) return;
    try {
      progress.epochs[e] = await epochSnapshot(ctx.out, model, probes, e, s.snapshotSteps, s.seed);
    } finally {
      model.dispose();
    }
    await writeJsonAtomic(progressPath, progress);
  };
  for (let e = 0; e <= done; e++) if (!progress.epochs[e]) await snapshot(e);
  // One lock over every epoch's call, so no other writer slips in between two of them.
  const lock = done < s.epochs ? await lockRunDir(await ensureDir(ctx.runDir), ctx.log) : undefined;
  try {
    await trainEpochs();
  } finally {
    await lock?.release();
  }
  async function trainEpochs() {
    for (let e = done + 1; e <= s.epochs; e++) {
      if (ctx.stopRequested()) throw new Interrupted();
      ctx.log(`lab: training epoch ${e} of ${s.epochs} (the bar below counts to this epoch)`);
      const summary = await trainCommand(
        {
          model: s.model,
          dataset: s.dataset,
          dataDir: ctx.dataDir,
          download: ctx.download ?? true,
          epochs: e,
          batchSize: s.batchSize,
          optimizer: 'adam',
          valSplit: VAL_FRACTION,
          limit: s.trainLimit,
          seed: s.seed,
          out: ctx.runDir,
          resume: e > 1,
          force: e === 1,
          backend: s.backend,
          runLock: lock,
        },
        ctx.log,
        { shouldStop: ctx.stopRequested },
      );
      if (summary.stopReason === 'interrupted') throw new Interrupted();
      await writeDirAtomic(epochDir(e), (tmp) => cp(runPaths(ctx.runDir).model, tmp, { recursive: true }));
      await snapshot(e);
    }
  }

  const history = await readHistory(ctx.runDir);
  const recs = history.records;
  const pts = (f: (r: (typeof recs)[number]) => number | undefined) =>
    recs.map((r) => [r.epoch, f(r) ?? Number.NaN] as [number, number]);
  const loss = await saveFigure(
    ctx.out,
    'train/loss.png',
    await svgToImage(
      lineChart('Loss per epoch', 'epoch', 'cross-entropy loss', [
        { name: 'training (dropout on)', color: '#1f77b4', points: pts((r) => r.loss) },
        { name: 'validation', color: '#d62728', points: pts((r) => r.valLoss), dashed: true },
      ]),
    ),
    'Learning curve: loss',
  );
  const acc = await saveFigure(
    ctx.out,
    'train/accuracy.png',
    await svgToImage(
      lineChart('Accuracy per epoch', 'epoch', 'accuracy', [
        { name: 'training (dropout on)', color: '#1f77b4', points: pts((r) => r.acc) },
        { name: 'validation', color: '#d62728', points: pts((r) => r.valAcc), dashed: true },
      ]),
    ),
    'Learning curve: accuracy',
  );
  const epochsShown = Object.keys(progress.epochs)
    .map(Number)
    .sort((a, b) => a - b);
  const timelines: Timeline[] = SNAPSHOT_KINDS.flatMap((kind) => {
    const frames = epochsShown.map((e) => progress.epochs[e].figures[kind]).filter((f): f is Figure => !!f);
    if (frames.length === 0) return [];
    return [
      {
        id: kind,
        title: KIND_TEXT[kind][0],
        caption: KIND_TEXT[kind][1],
        labels: epochsShown.filter((e) => progress.epochs[e].figures[kind]).map((e) => `epoch ${e}`),
        frames,
      },
    ];
  });
  const missing = SNAPSHOT_KINDS.filter((k) => !timelines.some((t) => t.id === k));
  const last = recs.at(-1);
  return {
    figures: [loss, acc],
    timelines,
    notes: [
      `${s.model} trained for ${recs.length} epochs with Adam (batch ${s.batchSize}, seed ${s.seed}) on ${plan.train.count} images, validated on ${plan.val.count}.`,
      ...(missing.includes('gradcam')
        ? ['Grad-CAM timeline: not available yet (no gradcam method registered).']
        : []),
    ],
    tables: [
      {
        title: 'Epochs',
        header: ['epoch', 'loss', 'accuracy', 'val loss', 'val accuracy', 'seconds', 'img/s'],
        rows: recs.map((r) => [
          r.epoch,
          r.loss.toFixed(4),
          r.acc.toFixed(4),
          r.valLoss?.toFixed(4) ?? '–',
          r.valAcc?.toFixed(4) ?? '–',
          r.seconds.toFixed(1),
          Math.round(r.imagesPerSecond),
        ]),
      },
    ],
    numbers: {
      model: s.model,
      epochs: recs.length,
      trainCount: plan.train.count,
      valCount: plan.val.count,
      records: recs,
      final: last,
      probeIndices: probes.indices,
      snapshots: Object.fromEntries(epochsShown.map((e) => [e, progress.epochs[e].numbers])),
      run: 'run/',
    },
  };
}
