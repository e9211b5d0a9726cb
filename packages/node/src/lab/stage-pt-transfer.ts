/**
 * The transfer-learning section on a pretrained model (the lecture's recipe, measured): on one split of
 * the same few hundred images, the last shown layer's averaged features + each classic classifier, a new
 * head on the frozen network (`transfer`, GAP + softmax), and that head then fine-tuned end to end —
 * test accuracy and wall time side by side, with the lecture's rule of thumb set against what was
 * measured. The images are hard-linked into a scratch folder, so every method sees the same files and the
 * same seeded split (transfer's own); the scratch is removed, the report keeps numbers only.
 */
import { copyFile, link, mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CLASSIFY_METHODS } from '../classify/methods.ts';
import { scanImageFolder, splitItems } from '../datasets/image-folder.ts';
import type { Features } from '../features/read-features.ts';
import { classNameIndex, normClassName } from '../open/class-lookup.ts';
import { listImages } from '../open/image-files.ts';
import { classifyFeatures } from '../tasks/classify.ts';
import { type FeatureDataset, featureRows, openFeatureDataset } from '../tasks/features.ts';
import { runTransfer } from '../transfer/transfer.ts';
import { spread } from './pretrained.ts';
import { taskHooks } from './stage-pt-inside.ts';
import { Interrupted, type LabContext, type StageResult } from './types.ts';

/**
 * Images compared at most, held-out share, epochs of the new head and of fine-tuning; smaller with
 * --quick. Fine-tuning dominates: 2 epochs end to end over 240 MobileNet 0.25 images took 15 minutes
 * on a busy 2-core machine, so it gets one epoch over at most 160.
 */
export function transferSettings(quick: boolean) {
  return quick
    ? { images: 80, testFraction: 0.2, headEpochs: 5, fineTuneEpochs: 1, lr: 1e-3, batchSize: 32 }
    : { images: 200, testFraction: 0.2, headEpochs: 10, fineTuneEpochs: 1, lr: 1e-3, batchSize: 32 };
}

export interface TransferRow {
  method: string;
  how: string;
  accuracy: number | null;
  seconds: number;
  note?: string;
}

const pct = (v: number | null) => (v === null || Number.isNaN(v) ? '–' : `${(100 * v).toFixed(1)}%`);

export async function ptTransferStage(ctx: LabContext): Promise<StageResult> {
  const { model, settings: p, full } = ctx.pretrained!;
  const seed = ctx.settings.seed;
  const layer = p.layers.at(-1)!;
  if (full.kind !== 'image-folder' || !full.labelled)
    return {
      figures: [],
      numbers: { omitted: true },
      omitted:
        'Omitted: transfer learning needs labelled images in class folders (ROOT/<class>/<image>); give such a folder with --dataset.',
    };
  const root = resolve(full.name);
  const listing = await listImages(root);
  if (listing.layout !== 'class-folders' || listing.classNames.length < 2)
    return {
      figures: [],
      numbers: { omitted: true },
      omitted: 'Omitted: transfer learning needs at least two class folders (ROOT/<class>/<image>).',
    };

  // The same images for every method: up to S.images, evenly spaced (every class), linked.
  const scratch = join(ctx.out, 'transfer-scratch');
  const images = join(scratch, 'images');
  await rm(scratch, { recursive: true, force: true });
  const S = transferSettings(!!ctx.settings.quick);
  const chosen = spread(listing.files.length, S.images).map((i) => listing.files[i]);
  for (const f of chosen) {
    const cls = listing.classNames[f.label];
    await mkdir(join(images, cls), { recursive: true });
    // Hard links (the folder listers skip symlinks); a copy across file systems.
    const to = join(images, cls, f.path.split('/').pop()!);
    await link(resolve(f.path), to).catch(() => copyFile(f.path, to));
  }
  try {
    // transfer's split (a seeded shuffle) is the one every method uses.
    const scan = await scanImageFolder(images);
    const { val } = splitItems(scan.items, S.testFraction, seed);
    const testPaths = new Set(val.map((v) => resolve(v.path)));

    const fd: FeatureDataset = await openFeatureDataset(images, model, { onCorrupt: 'skip' });
    const t0 = performance.now();
    const h = taskHooks(ctx, `features ${layer}`, 'img');
    let rows: Awaited<ReturnType<typeof featureRows>>;
    try {
      rows = await featureRows(
        model,
        fd,
        layer,
        'avg',
        Uint32Array.from({ length: fd.data.count }, (_, i) => i),
        undefined,
        h,
      );
    } finally {
      h.close();
    }
    const featureSeconds = (performance.now() - t0) / 1000;
    const n = rows.indices.length;
    const features: Features = {
      index: {
        format: 'convlens-features',
        version: 1,
        model: { source: p.source, fingerprint: p.fingerprint },
        layer,
        pool: 'avg',
        shape: [n, rows.f],
        layerShape: [],
        dataset: { name: images, description: `${n} images of ${full.name}`, count: n, fingerprint: '' },
        preprocess: { text: p.preprocess },
        classNames: fd.classNames,
        seed,
        testFraction: S.testFraction,
        shard: null,
        files: { features: '', labels: '' },
      },
      features: rows.features,
      n,
      f: rows.f,
      labels: Int32Array.from(rows.indices, (i) => fd.data.labels[i]),
      files: Array.from(rows.indices, (i) => fd.file(i)),
      classes: Array.from(rows.indices, (i) => fd.classNames[fd.data.labels[i]]),
      split: Array.from(rows.indices, (i) => (testPaths.has(resolve(images, fd.file(i))) ? 'test' : 'train')),
    };

    const table: TransferRow[] = [];
    for (const method of CLASSIFY_METHODS) {
      if (ctx.stopRequested()) throw new Interrupted();
      const s = await classifyFeatures({ features, method, cv: 0, seed });
      table.push({
        method: `features + ${method}`,
        how: `${layer} averaged (${rows.f}), ${s.library}`,
        accuracy: s.accuracy,
        seconds: featureSeconds + s.fitSeconds + s.predictSeconds,
      });
    }
    const train = features.split.filter((v) => v === 'train').length;
    const test = n - train;

    // A new head (transfer), then fine-tuning: the frozen part's features are cached between the two.
    const base = {
      base: p.source,
      freezeUntil: layer,
      head: 'gap',
      dataset: images,
      batchSize: S.batchSize,
      lr: S.lr,
      valSplit: S.testFraction,
      seed,
      onCorrupt: 'skip' as const,
      preset: model.preprocess.preset,
      cache: true,
      cacheDir: join(scratch, 'cache'),
    };
    for (const [method, fine] of [
      ['new head (transfer)', 0],
      [`fine-tuning all layers`, S.fineTuneEpochs],
    ] as const) {
      if (ctx.stopRequested()) throw new Interrupted();
      const hooks = taskHooks(ctx, method, 'img');
      const t1 = performance.now();
      try {
        let done = 0;
        let total = 0;
        const r = await runTransfer({
          ...base,
          out: join(scratch, fine ? 'fine-tune' : 'head'),
          epochs: S.headEpochs,
          fineTuneEpochs: fine,
          onPhase: (_l, t) => {
            done = 0;
            total = t;
          },
          onImages: (k) => {
            done += k;
            hooks.onProgress?.(done, total);
          },
        });
        const last = r.history.at(-1)!;
        table.push({
          method,
          how: fine
            ? `head ${S.headEpochs} epochs, then ${fine} epochs end to end at lr ${S.lr / 10}`
            : `GAP + softmax on ${layer}, ${S.headEpochs} epochs (frozen features cached)`,
          accuracy: last.valAccuracy,
          seconds: (performance.now() - t1) / 1000,
        });
      } catch (err) {
        if (err instanceof Interrupted) throw err;
        table.push({
          method,
          how: '',
          accuracy: null,
          seconds: 0,
          note: (err as Error).message.split('\n')[0],
        });
      } finally {
        hooks.close();
      }
    }

    // The lecture's rule of thumb against the measurement.
    const byName = classNameIndex(model.classNames);
    const known = fd.classNames.filter((c) => byName.has(normClassName(c))).length;
    const similar = model.named && known >= fd.classNames.length / 2;
    const small = train < 1000;
    const linear = table.find((r) => r.method === 'features + logreg')!;
    const tuned = table.find((r) => r.method.startsWith('fine-tuning'))!;
    const best = [...table].filter((r) => r.accuracy !== null).sort((a, b) => b.accuracy! - a.accuracy!)[0];
    const predicted =
      small && similar
        ? 'features + a linear classifier'
        : 'fine-tuning (the features of a pretrained model fit a different domain less well, and more data pays for training more layers)';
    const gain =
      tuned.accuracy !== null && linear.accuracy !== null ? tuned.accuracy - linear.accuracy : undefined;
    const notes = [
      `${n} images (${train} train, ${test} test: one seeded split, the same for every row), ${fd.classNames.length} classes, ${known} of them among the model's own classes (${similar ? 'a domain close to its training data' : 'a different domain'}). Times include extracting the features once (${featureSeconds.toFixed(1)} s) for the classic classifiers; the transfer rows run the network themselves.`,
      `Rule of thumb (lecture): small data and similar to ImageNet → features + a linear classifier; more data or a different domain → fine-tune. Here: ${small ? 'small' : 'larger'} data, ${similar ? 'similar' : 'different'} domain → the rule predicts ${predicted}.`,
      `Measured: best ${best ? `${best.method} (${pct(best.accuracy)})` : '–'}; fine-tuning ${gain === undefined ? 'did not run' : `${gain >= 0 ? 'gained' : 'lost'} ${Math.abs(100 * gain).toFixed(1)} points over features + logreg at ${(tuned.seconds / Math.max(linear.seconds, 1e-9)).toFixed(1)}× its wall time`}.`,
    ];
    return {
      figures: [],
      notes,
      tables: [
        {
          title: `Transfer learning on ${n} images of ${full.name}: test accuracy and wall time`,
          header: ['method', 'test accuracy', 'wall time (s)', 'how'],
          rows: table.map((r) => [
            r.method,
            pct(r.accuracy),
            r.accuracy === null ? '–' : r.seconds.toFixed(1),
            r.note ? `not run: ${r.note}` : r.how,
          ]),
        },
      ],
      numbers: {
        layer,
        images: n,
        train,
        test,
        classes: fd.classNames.length,
        knownClasses: known,
        similarDomain: similar,
        smallData: small,
        featureSeconds,
        settings: S,
        rows: table,
        ruleOfThumb: predicted,
      },
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The zoo lab trains its own model: nothing pretrained to transfer. */
export async function zooTransferStage(): Promise<StageResult> {
  return {
    figures: [],
    numbers: { omitted: true },
    omitted:
      'Omitted: the lab trained this model itself; transfer learning compares ways to reuse a pretrained one (convlens lab --model SOURCE --dataset DIR).',
  };
}
