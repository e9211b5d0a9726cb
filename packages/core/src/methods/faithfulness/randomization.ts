/**
 * Model randomization sanity check (Adebayo et al., 2018): re-initialize the layers from the top
 * down, cascading, and compare each step's maps with the original maps by Spearman rank
 * correlation. A method whose maps barely change does not depend on what the model learned.
 * The model is cloned first, so the caller's model is untouched.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng } from '../../data/rng.ts';
import type { ExplainMethod, ExplainRequest } from '../explain/types.ts';
import { spearman } from './rank-correlation.ts';

export interface RandomizationStep {
  /** Layer randomized last at this step (all layers above it are randomized too). */
  layer: string;
  /** Mean Spearman ρ over inputs between original and randomized maps (NaN maps skipped). */
  correlation: number;
}

export interface RandomizationResult {
  method: string;
  steps: RandomizationStep[];
  /** True when the fully randomized model still gives maps with ρ ≥ threshold. */
  flagged: boolean;
}

/** An independent copy of a layers model (topology + weights), via in-memory save/load. */
export async function cloneModel(model: tf.LayersModel): Promise<tf.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save({
    save: async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    },
  });
  if (!artifacts) throw new Error('could not clone the model');
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

/** Gaussian noise with each weight tensor's own standard deviation (scale-preserving reset). */
export function randomizeLayer(layer: tf.layers.Layer, rng: () => number): void {
  const fresh = layer.getWeights().map((w) => {
    const v = w.dataSync();
    let m = 0;
    for (const x of v) m += x / v.length;
    let s = 0;
    for (const x of v) s += (x - m) ** 2 / v.length;
    const sd = Math.sqrt(s) || 0.05;
    const out = new Float32Array(v.length);
    for (let i = 0; i < out.length; i++)
      out[i] = sd * Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
    return tf.tensor(out, w.shape);
  });
  layer.setWeights(fresh);
  for (const t of fresh) t.dispose();
}

export async function randomizationCheck(
  method: ExplainMethod<any>,
  req: ExplainRequest<any>,
  opts: { seed?: number; threshold?: number } = {},
): Promise<RandomizationResult> {
  const threshold = opts.threshold ?? 0.5;
  const rng = createRng(opts.seed ?? 1);
  const original = await method.explain(req);
  const clone = await cloneModel(req.model);
  const steps: RandomizationStep[] = [];
  try {
    const layers = clone.layers.filter((l) => l.getWeights().length > 0).reverse();
    for (const layer of layers) {
      randomizeLayer(layer, rng);
      const e = await method.explain({ ...req, model: clone, target: original.targets });
      const rs = e.maps.map((m, i) => spearman(original.maps[i], m)).filter((r) => !Number.isNaN(r));
      steps.push({
        layer: layer.name,
        correlation: rs.length ? rs.reduce((a, b) => a + b, 0) / rs.length : Number.NaN,
      });
    }
  } finally {
    clone.dispose();
  }
  const last = steps.at(-1)?.correlation ?? Number.NaN;
  return { method: method.id, steps, flagged: !(last < threshold) };
}
