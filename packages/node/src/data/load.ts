/** Loads a resolved dataset into ImageSets, and splits off validation data with honest provenance. */
import { idxToImageSet } from '@convlens/core/data/idx';
import { stratifiedSplit, subset, takeFirst } from '@convlens/core/data/split';
import type { DataProvenance, ImageSet } from '@convlens/core/data/types';
import { checkLabels } from './check-labels.ts';
import { readIdxFile } from './read-idx.ts';
import { type ResolvedDataset, type ResolveOptions, resolveDataset } from './resolve.ts';

export { readIdxFile };

export interface LoadOptions extends ResolveOptions {
  /** Read the training files when present (default true; evaluation only needs the test split). */
  train?: boolean;
}

export interface LoadedDataset {
  name: string;
  dir: string;
  resolved: ResolvedDataset;
  /** Absent when the folder has no training images. */
  train?: ImageSet;
  test: ImageSet;
  provenance: DataProvenance;
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** Resolves (see resolveDataset) and reads a dataset. */
export async function loadDataset(nameOrPath: string, opts: LoadOptions = {}): Promise<LoadedDataset> {
  const resolved = await resolveDataset(nameOrPath, opts);
  const { files, spec } = resolved;
  const wantTrain = opts.train !== false && resolved.hasTrain;
  const [testImages, testLabels, trainImages, trainLabels] = await Promise.all([
    readIdxFile(files.testImages),
    readIdxFile(files.testLabels),
    wantTrain ? readIdxFile(files.trainImages!) : undefined,
    wantTrain ? readIdxFile(files.trainLabels!) : undefined,
  ]);
  // One class count for both splits, so a class missing from one split does not change the model's output size.
  let maxLabel = 0;
  for (const l of [testLabels, trainLabels]) if (l) for (const v of l.data) maxLabel = Math.max(maxLabel, v);
  const classOpts = {
    numClasses: spec ? spec.classNames.length : maxLabel + 1,
    classNames: spec?.classNames,
  };
  const test = idxToImageSet(testImages, testLabels, files.testImages, files.testLabels, classOpts);
  const train =
    trainImages && trainLabels
      ? idxToImageSet(trainImages, trainLabels, files.trainImages!, files.trainLabels!, classOpts)
      : undefined;
  // After the structural checks above: empty files, one class, stray labels (see check-labels.ts).
  checkLabels(
    [
      { images: files.testImages, labels: files.testLabels, count: test.count, data: testLabels.data },
      ...(train && trainLabels
        ? [
            {
              images: files.trainImages!,
              labels: files.trainLabels!,
              count: train.count,
              data: trainLabels.data,
            },
          ]
        : []),
    ],
    { named: !!spec, forTraining: opts.train !== false },
  );
  const provenance: DataProvenance = resolved.hasTrain
    ? { dataset: resolved.name, source: resolved.dir, split: 'standard' }
    : {
        dataset: resolved.name,
        source: resolved.dir,
        split: 'from-test',
        note:
          `${resolved.name} in ${resolved.dir} has no training images, only the ${fmt(test.count)}-image test split; ` +
          'training and validation data must be split from it.',
      };
  return { name: resolved.name, dir: resolved.dir, resolved, train, test, provenance };
}

export interface TrainValOptions {
  /** Validation fraction (0 ≤ f < 1) or count. */
  valFraction: number;
  seed: number;
  /** Keep only the first n training examples after the split (--limit). */
  limit?: number;
}

export interface TrainValSplit {
  train: ImageSet;
  val: ImageSet;
  /** The dataset's own test set; absent when train/val were split from it. */
  test?: ImageSet;
  /** Indices of train and val in the set they were split from (the training set, or the test set for 'from-test'). */
  trainIdx: Uint32Array;
  valIdx: Uint32Array;
  provenance: DataProvenance;
}

/**
 * Splits validation data off the training set (standard) or, when there are no training images,
 * splits the test set itself into train and validation, and says so in provenance.note.
 */
export function trainValSplit(loaded: LoadedDataset, opts: TrainValOptions): TrainValSplit {
  const source = loaded.train ?? loaded.test;
  const { valIdx, trainIdx: splitTrainIdx } = stratifiedSplit(source.labels, opts.valFraction, opts.seed);
  let train = subset(source, splitTrainIdx);
  if (opts.limit !== undefined) train = takeFirst(train, opts.limit);
  const trainIdx = splitTrainIdx.subarray(0, train.count);
  const val = subset(source, valIdx);
  const base = { dataset: loaded.name, source: loaded.dir };
  const limited =
    train.count < source.count - val.count
      ? ` Training limited to the first ${fmt(train.count)} examples.`
      : '';
  if (loaded.train) {
    return {
      train,
      val,
      test: loaded.test,
      trainIdx,
      valIdx,
      provenance: {
        ...base,
        split: 'standard',
        note:
          `Standard split: validation is ${fmt(val.count)} of the ${fmt(source.count)} training images ` +
          `(seeded stratified, seed ${opts.seed}); test is the ${fmt(loaded.test.count)}-image test set.${limited}`,
      },
    };
  }
  return {
    train,
    val,
    trainIdx,
    valIdx,
    provenance: {
      ...base,
      split: 'from-test',
      note:
        `Not the standard ${loaded.name} split: ${loaded.dir} has no training images, so train ` +
        `(${fmt(source.count - val.count)}) and validation (${fmt(val.count)}) are a seeded stratified split ` +
        `(seed ${opts.seed}) of the ${fmt(source.count)}-image test set; the validation part is the only ` +
        `held-out data and there is no separate test set.${limited}`,
    },
  };
}
