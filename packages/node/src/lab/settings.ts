/**
 * The lab's settings: command-line choices, with defaults sized for the time budget (≤ 8 min by
 * default, ≤ 90 s with --quick on a 2-core machine), and the stage keys that make caching safe.
 */
import { createHash } from 'node:crypto';
import type { BackendName } from '@convlens/core/engine/backend';
import type { OpenDatasetOptions } from '../open/open-dataset.ts';
import type { OpenModelOptions } from '../open/open-model.ts';
import type { PretrainedSettings } from './pretrained.ts';

export interface LabOptions {
  /** mnist, fashion-mnist or an IDX folder for a zoo model; any dataset for a pretrained one. */
  dataset?: string;
  /** A zoo name (trained here) or any model source (used as it is: no training). */
  model?: string;
  /** Pretrained: layers shown inside the network (default: 4 conv layers spread over depth). */
  layers?: string[];
  /** Pretrained: classes maximized, as indices or names (default: see resolvePretrained). */
  classes?: string[];
  /** Pretrained: how to open the model and the dataset (labels, preprocessing, labels CSV, …). */
  openModel?: OpenModelOptions;
  openDataset?: OpenDatasetOptions;
  epochs?: number;
  /** First N training examples (default 8,000: the MNIST budget; 1,500 with --quick). */
  limit?: number;
  quick?: boolean;
  /** Zoo: add the transfer-learning section on this dataset (true: fashion-mnist). */
  transfer?: string | boolean;
  force?: boolean;
  out: string;
  dataDir?: string;
  download?: boolean;
  seed: number;
  json?: boolean;
  backend: BackendName;
}

export interface LabSettings {
  dataset: string;
  model: string;
  /** Set when the model is used as given (no training): what it is and the pretrained stages' sizes. */
  pretrained?: PretrainedSettings;
  seed: number;
  quick: boolean;
  /** Zoo: the dataset the transfer-learning section reuses the trained network on (unset: omitted). */
  transfer?: string;
  backend: BackendName;
  /** Training: epochs, first N examples of the training split (undefined = all), batch size. */
  epochs: number;
  trainLimit?: number;
  batchSize: number;
  /** Per-epoch snapshots: act-max steps for the class maximizations. */
  snapshotSteps: number;
  /** Test evaluation: at most this many held-out images (undefined = all). */
  testLimit?: number;
  /** Part 1: images streamed for class statistics, top-k per filter, digits shown layer by layer. */
  statsImages: number;
  topK: number;
  activationDigits: number[];
  /** Part 2: act-max steps, the tv-weight sweep, filters/units maximized per layer. */
  actmaxSteps: number;
  tvWeights: number[];
  filtersPerLayer: number;
  /** Part 3: digits explained side by side. */
  explainDigits: number[];
  /** Part 3: epochs training the GAP head of the CAM model (base frozen). */
  camEpochs: number;
  /** Part 3: held-out images of the faithfulness table, and of its randomization sanity check. */
  faithfulnessImages: number;
  sanityImages: number;
  /** Part 3: perturbation samples of LIME and KernelSHAP (their defaults are sized for photos). */
  samplingSamples: number;
}

/** Probability the chosen tv weight must keep for every class (the stated rule in the report). */
/** Training examples by default: all of MNIST's 8,000-image split here, and a cap that keeps a full 60k dataset within the time budget. */
export const DEFAULT_TRAIN_LIMIT = 8000;

export const TV_RULE_PROBABILITY = 0.9;
export const CLASS_PAIRS: [number, number][] = [
  [1, 7],
  [4, 9],
  [0, 1],
  [7, 8],
];

export function resolveSettings(o: LabOptions): LabSettings {
  const quick = !!o.quick;
  return {
    dataset: o.dataset ?? 'mnist',
    model: o.model ?? 'pw11',
    seed: o.seed,
    quick,
    ...(o.transfer ? { transfer: o.transfer === true ? 'fashion-mnist' : o.transfer } : {}),
    backend: o.backend,
    epochs: o.epochs ?? (quick ? 2 : 4),
    trainLimit: o.limit ?? (quick ? 1500 : DEFAULT_TRAIN_LIMIT),
    batchSize: 128,
    snapshotSteps: quick ? 24 : 64,
    testLimit: quick ? 500 : undefined,
    statsImages: quick ? 300 : 2000,
    topK: 9,
    activationDigits: quick ? [7] : [2, 7],
    actmaxSteps: quick ? 32 : 128,
    tvWeights: quick ? [0, 32, 512] : [0, 8, 32, 128, 512, 2048],
    filtersPerLayer: quick ? 4 : 8,
    explainDigits: quick ? [3, 7] : [0, 3, 4, 7, 9],
    camEpochs: 2,
    faithfulnessImages: quick ? 8 : 50,
    sanityImages: quick ? 2 : 6,
    samplingSamples: quick ? 64 : 200,
  };
}

/** A short stable hash of a stage's inputs: equal keys mean the cached result can be reused. */
/** Bumped when a stage's output changes shape, so older cached stages are recomputed. */
export const STAGE_VERSION = 2;

export function stageKey(stage: string, parts: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify({ stage, parts, version: STAGE_VERSION }))
    .digest('hex')
    .slice(0, 16);
}
