import type * as tf from '@tensorflow/tfjs';

/**
 * The one interface every explanation method implements (issue 7): a model, an input batch, one
 * target class per example (or one for all), a layer where the method needs one, method options →
 * one attribution map per input plus metadata. Faithfulness scores, the CLI, the lab report and the
 * explorer only ever talk to methods through this.
 */
export interface ExplainRequest<O = Record<string, unknown>> {
  /** A tfjs layers model whose output is class probabilities (softmax) or logits (see models/logits.ts). */
  model: tf.LayersModel;
  /** Inputs already preprocessed for the model: [N, H, W, C]. Not disposed by the method. */
  input: tf.Tensor4D;
  /** Target class per example, or one class for the whole batch. */
  target: number | number[];
  /**
   * Layer name for layer-based methods (CAM family, DeconvNet); defaults per method (see pickLayer).
   * CAM methods (`cam: true`) also take a comma-separated list, whose maps they fuse.
   */
  layer?: string;
  /** Method-specific options (noise level, steps, patch size, samples, seed, …). */
  options?: O;
}

/** One method's result for a batch: N maps in input-pixel resolution. */
export interface Explanation {
  /** Method id as used on the CLI, e.g. 'gradcam', 'ig', 'occlusion'. */
  method: string;
  /**
   * Attribution maps, [N, H, W] row-major at input resolution (layer maps are upsampled
   * bilinearly), one per input. Plain arrays, not tensors: nothing for the caller to dispose.
   */
  maps: Float32Array[];
  height: number;
  width: number;
  /**
   * Whether maps carry a sign that matters (IG, gradient×input, LIME weights: draw with a diverging
   * colormap) or are non-negative by construction (CAMs, saliency, occlusion drop).
   */
  signed: boolean;
  /** The targets actually explained, one per input. */
  targets: number[];
  /** Layer used, when the method used one (after defaulting). */
  layer?: string;
  /** Per-input notes: 'all-zero map', 'NaN in map', '1×1 layer output: map is constant', … */
  warnings: string[][];
  /** Method-specific numbers (IG convergence delta per input, LIME fit R², steps, samples, …). */
  meta: Record<string, unknown>;
}

/** A registered method: id, a one-line description for help/report text, and the computation. */
export interface ExplainMethod<O = Record<string, unknown>> {
  id: string;
  /** Human title, e.g. 'Grad-CAM++'. */
  title: string;
  /** One or two sentences: what it computes and what to look for (used in the report and help). */
  description: string;
  /** Whether it needs a spatial layer (CAM family, DeconvNet). */
  needsLayer: boolean;
  /**
   * Built on the CAM base (cam-base.ts): takes its options (augSmooth, eigenSmooth, fusion, signed)
   * and a comma-separated list of layers, fused into one map.
   */
  cam?: boolean;
  /**
   * A sanity-check baseline (RandomCAM, the Sobel edge map), not an explanation: a method that does
   * not beat every control on a faithfulness measure is flagged.
   */
  control?: boolean;
  explain(req: ExplainRequest<O>): Promise<Explanation>;
}
