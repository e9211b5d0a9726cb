/**
 * The CAM network (Zhou et al., "Learning deep features for discriminative localization"; the lab's
 * `model_gap`): a trained CNN cut at a conv layer, followed by global average pooling and one dense
 * layer. For such a head the class score is the spatial mean of Σₖ w[k,c]·Aₖ, so that map (the CAM)
 * shows where the evidence for class c is, read straight off the dense weights.
 */
import * as tf from '@tensorflow/tfjs';
import { upsample } from '../methods/explain/common.ts';
import { LOGITS_LAYER, PROBS_LAYER } from './build.ts';

/** Name of the global-average-pooling layer buildCamModel adds. */
export const CAM_GAP_LAYER = 'cam_gap';
/** Name of the optional conv layer buildCamModel adds before the GAP. */
export const CAM_CONV_LAYER = 'cam_conv';

const CONV = new Set(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D']);
// Layers that finish a conv block: a default cut includes them, so the features are post-activation.
const BLOCK_TAIL = new Set(['BatchNormalization', 'Activation', 'ReLU', 'LeakyReLU', 'ELU']);
// Identity at inference, skipped when reading a head.
const PASS_THROUGH = new Set([
  'Dropout',
  'SpatialDropout2D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
]);

const outShape = (l: tf.layers.Layer) => l.outputShape as number[];
const inboundOf = (l: tf.layers.Layer): tf.layers.Layer[] =>
  ((l as any).inboundNodes?.[0]?.inboundLayers ?? []) as tf.layers.Layer[];

/**
 * Where buildCamModel cuts by default: the last conv layer whose output is spatial and larger than
 * 1×1, extended over the batch norm / activation layers that directly follow it (conv → BN → ReLU
 * blocks), so the CAM is built on the block's output, not on pre-activations.
 */
export function defaultCamLayer(model: tf.LayersModel): string {
  const convs = model.layers.filter((l) => {
    const s = outShape(l);
    return CONV.has(l.getClassName()) && s.length === 4 && s[1] > 1 && s[2] > 1;
  });
  let layer = convs.at(-1);
  if (!layer)
    throw new Error(`model '${model.name}' has no conv layer with a spatial output larger than 1×1`);
  for (;;) {
    const current: tf.layers.Layer = layer;
    const next = model.layers.find((l) => {
      const inbound = inboundOf(l);
      return inbound.length === 1 && inbound[0] === current;
    });
    if (!next || !BLOCK_TAIL.has(next.getClassName())) break;
    // Only a plain chain: a block output that also feeds elsewhere is where the block ends.
    if (model.layers.filter((l) => inboundOf(l).includes(current)).length !== 1) break;
    layer = next;
  }
  return layer.name;
}

export interface CamModelOptions {
  /** Layer to cut at (its output feeds the GAP). Default: defaultCamLayer. */
  layer?: string;
  /** Freeze the copied base (default true): only the dense layer trains; batch norm stays in inference mode. */
  freeze?: boolean;
  /** Seed for the dense layer's initial weights. */
  seed?: number;
  /**
   * Filters of a new 3×3 conv layer (ReLU, same padding, named `cam_conv`) between the cut and the
   * GAP, as Zhou et al. add one (1024 filters on VGG): shallow cuts have receptive fields too small
   * for an average of their features to tell classes apart. 0 (default): none.
   */
  conv?: number;
}

/**
 * A new model: `model`'s layers up to `layer` (copies: training the new model never changes
 * `model`), then `cam_gap` (GlobalAveragePooling2D) → `logits` (Dense, linear) → `probs` (softmax).
 * The dense layer is split from its softmax as in every convlens model, so training uses the stable
 * cross-entropy and Grad-CAM reads pre-softmax scores; the classifier is the lab's GAP + Dense softmax.
 */
export async function buildCamModel(
  model: tf.LayersModel,
  options: CamModelOptions = {},
): Promise<tf.LayersModel> {
  const name = options.layer ?? defaultCamLayer(model);
  const layer = model.layers.find((l) => l.name === name);
  if (!layer) {
    const valid = model.layers.filter((l) => outShape(l).length === 4).map((l) => l.name);
    throw new Error(`no layer '${name}' in model '${model.name}' (spatial layers: ${valid.join(', ')})`);
  }
  const s = outShape(layer);
  if (s.length !== 4)
    throw new Error(`layer '${name}' has no spatial output (shape [${s}]): cut at a conv or pool layer`);
  const classes = (model.outputs[0].shape as number[])[1];
  // Shares the original's layers; it is only serialized, never disposed (that would free them).
  const cut = tf.model({ inputs: model.inputs, outputs: layer.output as tf.SymbolicTensor });
  const base = await tf.models.modelFromJSON({
    modelTopology: cut.toJSON(null, false) as tf.io.ModelJSON['modelTopology'],
  });
  // setWeights makes the new variables share the data (reference-counted) until either side trains.
  for (const l of base.layers) l.setWeights(cut.getLayer(l.name).getWeights());
  const freeze = options.freeze ?? true;
  for (const l of base.layers) {
    l.trainable = !freeze;
    // tfjs updates batch-norm moving statistics whenever training is on, trainable or not; a frozen
    // base keeps them, as Keras does for non-trainable BatchNormalization.
    if (freeze && l.getClassName() === 'BatchNormalization') {
      const call = l.call.bind(l);
      l.call = (inputs, kwargs) => call(inputs, { ...kwargs, training: false });
    }
  }
  const init = tf.initializers.glorotUniform(options.seed === undefined ? {} : { seed: options.seed });
  let features = base.outputs[0];
  const conv = options.conv ?? 0;
  if (!(Number.isInteger(conv) && conv >= 0))
    throw new Error(`conv must be a whole number of filters, got ${conv}`);
  if (conv > 0) {
    const convInit = tf.initializers.heNormal(options.seed === undefined ? {} : { seed: options.seed + 1 });
    features = tf.layers
      .conv2d({
        filters: conv,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        name: CAM_CONV_LAYER,
        kernelInitializer: convInit,
      })
      .apply(features) as tf.SymbolicTensor;
  }
  const gap = tf.layers.globalAveragePooling2d({ name: CAM_GAP_LAYER }).apply(features);
  const logits = tf.layers
    .dense({ units: classes, name: LOGITS_LAYER, kernelInitializer: init })
    .apply(gap) as tf.SymbolicTensor;
  const probs = tf.layers.activation({ activation: 'softmax', name: PROBS_LAYER }).apply(logits);
  return tf.model({ inputs: base.inputs, outputs: probs as tf.SymbolicTensor, name: `${model.name}_cam` });
}

export interface CamHead {
  /** The layer whose output the GAP averages (the CAM's feature maps). */
  featureLayer: tf.layers.Layer;
  gap: tf.layers.Layer;
  dense: tf.layers.Layer;
}

/**
 * Reads a model's CAM head: output ← [softmax Activation] ← Dense ← GlobalAveragePooling2D ← features
 * (dropout in between skipped). Throws, naming the last layers found, when the model has no such head.
 */
export function camHead(model: tf.LayersModel): CamHead {
  const pred = (l: tf.layers.Layer | undefined) => {
    const inbound = l ? inboundOf(l) : [];
    return inbound.length === 1 ? inbound[0] : undefined;
  };
  const skip = (l: tf.layers.Layer | undefined) => {
    while (l && PASS_THROUGH.has(l.getClassName())) l = pred(l);
    return l;
  };
  const last = (model.outputs[0] as any).sourceLayer as tf.layers.Layer;
  let l = skip(last);
  if (l?.getClassName() === 'Activation') l = skip(pred(l));
  const dense = l?.getClassName() === 'Dense' ? l : undefined;
  const gap = skip(pred(dense));
  const featureLayer = gap?.getClassName() === 'GlobalAveragePooling2D' ? pred(gap) : undefined;
  if (!dense || !gap || !featureLayer) {
    const chain: tf.layers.Layer[] = [];
    for (let k: tf.layers.Layer | undefined = last; k && chain.length < 4; k = pred(k)) chain.unshift(k);
    throw new Error(
      `CAM needs a model ending in GlobalAveragePooling2D → Dense (build one with \`convlens cam-head\`); model '${model.name}' ends in ${chain.map((x) => `${x.name} (${x.getClassName()})`).join(' → ')}`,
    );
  }
  return { featureLayer, gap, dense };
}

export interface CamMapOptions {
  /** Add the class bias spread over the map, so the map's mean is the class score (default false). */
  bias?: boolean;
  /** Keep negative evidence instead of the usual ReLU (default false). */
  signed?: boolean;
}

export interface CamMaps {
  /** [N, H, W] at input resolution (caller disposes). */
  maps: tf.Tensor3D;
  layer: string;
  /** [h, w, K] of the feature layer. */
  layerShape: number[];
}

const featureModels = new WeakMap<tf.LayersModel, tf.LayersModel>();

/**
 * CAM (Zhou et al.): M_c = Σₖ w[k,c]·Aₖ over the GAP's input A and the dense kernel w, one target
 * class per input, ReLU unless signed, upsampled bilinearly to the input like the Grad-CAM family.
 */
export function camMaps(
  model: tf.LayersModel,
  input: tf.Tensor4D,
  targets: number[],
  options: CamMapOptions = {},
): CamMaps {
  const head = camHead(model);
  let features = featureModels.get(model);
  if (!features) {
    features = tf.model({ inputs: model.inputs, outputs: head.gap.input as tf.SymbolicTensor });
    featureModels.set(model, features);
  }
  const [, H, W] = input.shape;
  const f = features;
  const maps = tf.tidy(() => {
    const a = f.apply(input, { training: false }) as tf.Tensor4D;
    const [kernel, bias] = head.dense.getWeights();
    const t = tf.tensor1d(targets, 'int32');
    const [n, , , k] = a.shape;
    const w = tf.reshape(tf.transpose(tf.gather(kernel, t, 1)), [n, 1, 1, k]);
    let m = tf.sum(tf.mul(a, w), 3) as tf.Tensor3D;
    if (options.bias && bias) m = tf.add(m, tf.reshape(tf.gather(bias, t), [n, 1, 1]));
    return upsample(options.signed ? m : (tf.relu(m) as tf.Tensor3D), H, W);
  });
  return {
    maps,
    layer: head.featureLayer.name,
    layerShape: (head.gap.input as tf.SymbolicTensor).shape.slice(1) as number[],
  };
}
