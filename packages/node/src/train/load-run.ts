/**
 * Everything a method needs from a training run: its model, configuration and input preprocessing
 * (so images given on the command line are scaled exactly as the model was trained).
 */
import { type Standardizer, standardizerFromJSON } from '@convlens/core/data/standardize';
import type { tf } from '@convlens/core/engine/backend';
import { loadModel } from '../io/model-io.ts';
import { type RunConfig, readRunConfig, runPaths } from './run-dir.ts';

export interface LoadedRun {
  dir: string;
  config: RunConfig;
  model: tf.LayersModel;
  standardizer?: Standardizer;
  classNames: string[];
}

export async function loadRun(dir: string): Promise<LoadedRun> {
  const config = await readRunConfig(dir);
  const { model } = await loadModel(runPaths(dir).model);
  const standardizer = config.standardizer ? standardizerFromJSON(config.standardizer) : undefined;
  const classNames = config.classNames ?? Array.from({ length: config.numClasses }, (_, i) => String(i));
  return { dir, config, model, standardizer, classNames };
}
