/**
 * A training run on disk:
 *   RUN_DIR/run.json           configuration, data provenance, split, standardizer (how to rebuild the data)
 *   RUN_DIR/history.json       per-epoch records (rewritten atomically after every epoch)
 *   RUN_DIR/model/             the latest model, tfjs layers format (loadable in a browser)
 *   RUN_DIR/checkpoints/last/  model + optimizer state + epoch: what --resume continues from
 * Every file is written atomically, so a crash loses at most the epoch in progress.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StandardizerJSON } from '@convlens/core/data/standardize';
import type { DataProvenance } from '@convlens/core/data/types';
import type { History } from '@convlens/core/train/history';

export interface RunConfig {
  version: 1;
  model: string;
  dataset: string;
  inputShape: [number, number, number];
  numClasses: number;
  classNames?: string[];
  seed: number;
  batchSize: number;
  epochs: number;
  optimizer: Record<string, unknown>;
  valFraction: number;
  limit?: number;
  scaling: 'unit' | 'standardize';
  standardizer?: StandardizerJSON;
  augment?: Record<string, unknown>;
  earlyStopping?: { patience: number; minDelta: number };
  provenance: DataProvenance;
  trainCount: number;
  valCount: number;
  backend: string;
  createdAt: string;
}

export const runPaths = (dir: string) => ({
  config: join(dir, 'run.json'),
  history: join(dir, 'history.json'),
  model: join(dir, 'model'),
  checkpoint: join(dir, 'checkpoints', 'last'),
});

export async function readJsonFile<T>(path: string, what: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err: any) {
    throw new Error(`${path}: cannot read ${what} (${err.code === 'ENOENT' ? 'file not found' : err.code})`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${path}: ${what} is not valid JSON (corrupt or truncated)`);
  }
}

export async function readRunConfig(dir: string): Promise<RunConfig> {
  const cfg = await readJsonFile<RunConfig>(runPaths(dir).config, 'run configuration');
  if (cfg?.version !== 1 || typeof cfg.model !== 'string' || !Array.isArray(cfg.inputShape)) {
    throw new Error(`${runPaths(dir).config}: not a convlens run configuration`);
  }
  return cfg;
}

export async function readHistory(dir: string): Promise<History> {
  return readJsonFile<History>(runPaths(dir).history, 'training history');
}
