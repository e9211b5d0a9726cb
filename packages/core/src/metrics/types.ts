import type * as tf from '@tensorflow/tfjs';
import type { JobHooks } from '../jobs/job.ts';

/**
 * The one interface every explanation-quality metric implements (issue 19), in Quantus' six families.
 * A metric takes a batch of inputs, their targets and one attribution map per input (plus, depending on
 * `needs`, the model, ground-truth regions or a way to re-explain) and gives one number per input.
 * The faithfulness job, the lab and the explorer only talk to metrics through this and the registry.
 */
export type MetricFamily =
  | 'faithfulness'
  | 'robustness'
  | 'localisation'
  | 'complexity'
  | 'randomisation'
  | 'axiomatic';

/** Re-explains a batch: maps [H·W] per input, for these targets, on `model` (default: the context's). */
export type Reexplain = (req: {
  input: tf.Tensor4D;
  targets: number[];
  model?: tf.LayersModel;
}) => Promise<Float32Array[]>;

export interface MetricContext {
  /** Inputs, preprocessed for the model: [N, H, W, C]. Never disposed by a metric. */
  input: tf.Tensor4D;
  /** One target class per input. */
  targets: number[];
  /** One attribution map per input, [H·W] row-major at input resolution (as Explanation.maps). */
  maps: Float32Array[];
  /** Whether the maps are signed (Explanation.signed); some metrics rank by |a| then. */
  signed?: boolean;
  /** The model (needs.model): a tfjs layers model whose output is probabilities or logits. */
  model?: tf.LayersModel;
  /** Ground-truth region per input, [H·W] 1 inside (needs.region): see regions.ts. */
  regions?: Uint8Array[];
  /** Re-explains perturbed inputs, other targets or a randomized model (needs.explain): see explainerOf. */
  explain?: Reexplain;
  /** Value of removed pixels in the model's input space (default 0): the baseline of perturbations. */
  fill?: number;
  /** Seed of every random draw (default 1): same seed, same numbers. */
  seed?: number;
  /** Images per forward pass (default 64). */
  batch?: number;
  hooks?: JobHooks;
}

export interface MetricNeeds {
  /** Forward passes of the model. */
  model: boolean;
  /** A ground-truth region per input. */
  region: boolean;
  /** A re-explain function (robustness, randomisation, input invariance). */
  explain: boolean;
}

export interface MetricResult {
  metric: string;
  /** One value per input; NaN where the metric is undefined for that input (constant map, empty region…). */
  values: number[];
  /** Mean over the non-NaN values (NaN when none). */
  mean: number;
  /** Curves and intermediate numbers for figures and the report, metric-specific. */
  detail?: Record<string, unknown>;
}

/** A registered metric: id (CLI/JSON key), human title, family, direction, needs, computation. */
export interface Metric<O = Record<string, unknown>> {
  id: string;
  title: string;
  family: MetricFamily;
  /** One or two sentences: what it measures, after whom, and how to read it. */
  description: string;
  /** Whether larger values mean a better explanation. */
  higherIsBetter: boolean;
  needs: MetricNeeds;
  /** Relative cost in forward passes (or re-explanations) per input at default options, for planning. */
  cost: string;
  /** Per-input values; disposes every tensor it makes (the tensor count does not grow). */
  compute(ctx: MetricContext, options?: O): Promise<MetricResult>;
}
