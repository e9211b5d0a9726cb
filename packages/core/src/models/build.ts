import * as tf from '@tensorflow/tfjs';
import { type LayerSpec, type LayerType, type ModelSpec, size2, validateSpec } from './spec.ts';
import { zooSpec } from './zoo.ts';

/**
 * Name of the final Dense layer (linear activation): the pre-softmax class scores. Activation
 * maximization (keras-vis maximizes pre-softmax scores) and Grad-CAM differentiate this output, and
 * training computes a stable cross-entropy from it; cut a model here with `logitsModel()`.
 */
export const LOGITS_LAYER = 'logits';
/** Name of the softmax Activation layer after `logits`: the model's output (probabilities). */
export const PROBS_LAYER = 'probs';
/** Name of the input layer. */
export const INPUT_LAYER = 'input';

export interface BuildOptions {
  /** [height, width, channels], e.g. [28, 28, 1]. */
  inputShape: [number, number, number];
  numClasses: number;
  /**
   * Seeds every random initializer (glorot uniform kernels; each layer gets its own seed derived
   * from this one), so the same seed gives identical weights. Omitted: fresh random weights.
   */
  seed?: number;
}

/** Prefix of generated layer names, per spec type: conv1, conv2, pool1, dropout1, flatten, dense1, bn1, ... */
const NAME_PREFIX: Record<LayerType, string> = {
  conv2d: 'conv',
  maxpool: 'pool',
  avgpool: 'avgpool',
  dropout: 'dropout',
  flatten: 'flatten',
  dense: 'dense',
  batchnorm: 'bn',
  gap: 'gap',
  activation: 'act',
};

/** Types that normally occur once, named without a number (flatten, then flatten2 if ever repeated). */
type Initializer = ReturnType<typeof tf.initializers.glorotUniform>;

const SINGLE: ReadonlySet<LayerType> = new Set(['flatten', 'gap']);

/** Resolves a zoo name or validates a spec object. */
export function resolveSpec(model: string | ModelSpec): ModelSpec {
  return typeof model === 'string' ? zooSpec(model) : validateSpec(model);
}

/** The readable layer names a spec gets, in order (head excluded). */
export function layerNames(spec: ModelSpec): string[] {
  const counts = new Map<string, number>();
  return spec.layers.map((l) => {
    const prefix = NAME_PREFIX[l.type];
    const n = (counts.get(prefix) ?? 0) + 1;
    counts.set(prefix, n);
    if (l.name) return l.name;
    return SINGLE.has(l.type) && n === 1 ? prefix : `${prefix}${n}`;
  });
}

/**
 * Builds a functional tf.LayersModel: `input` → spec layers (readable names, see layerNames) →
 * `logits` (Dense numClasses, linear) → `probs` (softmax). The model's output is `probs`.
 */
export function buildModel(model: string | ModelSpec, options: BuildOptions): tf.LayersModel {
  const spec = resolveSpec(model);
  const { inputShape, numClasses, seed } = options;
  if (!(inputShape.length === 3 && inputShape.every((d) => Number.isInteger(d) && d > 0))) {
    throw new Error(`inputShape must be [height, width, channels] of positive integers, got [${inputShape}]`);
  }
  if (!(Number.isInteger(numClasses) && numClasses >= 2)) {
    throw new Error(`numClasses must be an integer >= 2, got ${numClasses}`);
  }
  const names = layerNames(spec);
  if (new Set(names).size !== names.length)
    throw new Error(`model '${spec.name}': layer names are not unique`);

  // Each layer's initializer gets its own seed: one shared seed would give equal-shaped kernels equal weights.
  const init = (i: number) =>
    tf.initializers.glorotUniform(seed === undefined ? {} : { seed: seed * 1009 + i + 1 });

  const input = tf.input({ shape: inputShape, name: INPUT_LAYER });
  let x: tf.SymbolicTensor = input;
  let flat = false;
  // Layers create their weights when applied: free them if a later layer turns out not to fit.
  const built: tf.layers.Layer[] = [];
  const add = (layer: tf.layers.Layer) => {
    built.push(layer);
    return layer.apply(x) as tf.SymbolicTensor;
  };
  try {
    spec.layers.forEach((l, i) => {
      if (!flat && l.type === 'dense') {
        throw new Error(
          `model '${spec.name}': layer ${names[i]} (dense) needs a flatten or gap layer before it (input is still an image)`,
        );
      }
      if (flat && isSpatial(l)) {
        throw new Error(
          `model '${spec.name}': layer ${names[i]} (${l.type}) needs an image input, but it comes after flatten/gap`,
        );
      }
      x = add(makeLayer(l, names[i], init(i)));
      if (l.type === 'flatten' || l.type === 'gap') flat = true;
      const bad = x.shape.slice(1).some((d) => d !== null && d < 1);
      if (bad) {
        throw new Error(
          `model '${spec.name}': input ${inputShape.join('×')} is too small; layer ${names[i]} would output [${x.shape.slice(1)}]`,
        );
      }
    });
  } catch (err) {
    for (const layer of built) layer.dispose();
    throw err;
  }
  if (!flat) x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  const logits = tf.layers
    .dense({
      units: numClasses,
      activation: 'linear',
      kernelInitializer: init(spec.layers.length),
      name: LOGITS_LAYER,
    })
    .apply(x) as tf.SymbolicTensor;
  const probs = tf.layers
    .activation({ activation: 'softmax', name: PROBS_LAYER })
    .apply(logits) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: probs, name: spec.name });
}

function isSpatial(l: LayerSpec): boolean {
  return l.type === 'conv2d' || l.type === 'maxpool' || l.type === 'avgpool' || l.type === 'gap';
}

function makeLayer(l: LayerSpec, name: string, kernelInitializer: Initializer): tf.layers.Layer {
  switch (l.type) {
    case 'conv2d':
      return tf.layers.conv2d({
        name,
        filters: l.filters,
        kernelSize: size2(l.kernel),
        strides: size2(l.strides ?? 1),
        padding: l.padding ?? 'valid',
        dilationRate: size2(l.dilation ?? 1),
        activation: l.activation ?? 'linear',
        useBias: l.useBias ?? true,
        kernelInitializer,
      });
    case 'maxpool':
    case 'avgpool': {
      const args = {
        name,
        poolSize: size2(l.pool ?? 2),
        strides: size2(l.strides ?? l.pool ?? 2),
        padding: l.padding ?? 'valid',
      };
      return l.type === 'maxpool' ? tf.layers.maxPooling2d(args) : tf.layers.averagePooling2d(args);
    }
    case 'dropout':
      // No seed: a seeded tfjs dropout draws the same mask at every step.
      return tf.layers.dropout({ name, rate: l.rate });
    case 'flatten':
      return tf.layers.flatten({ name });
    case 'dense':
      return tf.layers.dense({
        name,
        units: l.units,
        activation: l.activation ?? 'linear',
        kernelInitializer,
      });
    case 'batchnorm':
      return tf.layers.batchNormalization({ name, axis: -1, momentum: l.momentum, epsilon: l.epsilon });
    case 'gap':
      return tf.layers.globalAveragePooling2d({ name });
    case 'activation':
      return tf.layers.activation({ name, activation: l.activation });
  }
}
