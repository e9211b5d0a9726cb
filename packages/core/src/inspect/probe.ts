/**
 * Layer probe: one forward pass that returns the outputs of chosen layers. The multi-output model is
 * built once per (model, layer set) and cached, so probing a layer never rebuilds or re-runs the net.
 * Works on any functional or sequential tfjs LayersModel (zoo or imported).
 */
import * as tf from '@tensorflow/tfjs';

/** Layer classes probed by default: where a network's features live. */
export const PROBED_CLASSES: ReadonlySet<string> = new Set([
  'Conv2D',
  'DepthwiseConv2D',
  'SeparableConv2D',
  'Conv2DTranspose',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'Dense',
]);

export interface ProbedLayer {
  name: string;
  className: string;
  /** Output shape without the batch axis: [h, w, c] (spatial) or [units]. */
  shape: number[];
  spatial: boolean;
}

/** Every layer after the input that has a single, fixed-size output (what a probe can return). */
export function probeableLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.filter((l) => {
    if (l.getClassName() === 'InputLayer') return false;
    const s = l.outputShape;
    return (
      Array.isArray(s) && !Array.isArray(s[0]) && (s as (number | null)[]).slice(1).every((d) => d !== null)
    );
  });
}

/** The default probe set: every conv, pool and dense layer. */
export function defaultProbeLayers(model: tf.LayersModel): string[] {
  return probeableLayers(model)
    .filter((l) => PROBED_CLASSES.has(l.getClassName()))
    .map((l) => l.name);
}

/** Resolves layer names, failing with the list of valid ones on an unknown name. */
export function resolveProbeLayers(model: tf.LayersModel, names?: string[]): ProbedLayer[] {
  const valid = probeableLayers(model);
  const wanted = names && names.length > 0 ? names : defaultProbeLayers(model);
  if (wanted.length === 0) throw new Error(`model '${model.name}' has no conv, pool or dense layer to probe`);
  return wanted.map((name) => {
    const layer = valid.find((l) => l.name === name);
    if (!layer) {
      throw new Error(`unknown layer '${name}' (valid layers: ${valid.map((l) => l.name).join(', ')})`);
    }
    const shape = (layer.outputShape as number[]).slice(1);
    return { name, className: layer.getClassName(), shape, spatial: shape.length === 3 };
  });
}

const cache = new WeakMap<tf.LayersModel, Map<string, tf.LayersModel>>();

/** The cached model from the input to the given layers' outputs (shares weights with `model`). */
export function probeModel(model: tf.LayersModel, layers: ProbedLayer[]): tf.LayersModel {
  const key = layers.map((l) => l.name).join('\u0000');
  let byKey = cache.get(model);
  if (!byKey) {
    byKey = new Map();
    cache.set(model, byKey);
  }
  let net = byKey.get(key);
  if (!net) {
    const outputs = layers.map((l) => model.getLayer(l.name).output as tf.SymbolicTensor);
    net = tf.model({ inputs: model.inputs, outputs, name: `${model.name}_probe_${byKey.size}` });
    byKey.set(key, net);
  }
  return net;
}

/**
 * Runs one inference-mode forward pass (dropout off) and returns one tensor per layer, in order.
 * The caller owns (and disposes) the returned tensors.
 */
export function probeTensors(model: tf.LayersModel, layers: ProbedLayer[], x: tf.Tensor4D): tf.Tensor[] {
  const net = probeModel(model, layers);
  const out = net.apply(x, { training: false }) as tf.Tensor | tf.Tensor[];
  return Array.isArray(out) ? out : [out];
}

export interface LayerActivation extends ProbedLayer {
  /** batch × shape values, row-major (NHWC for spatial layers). */
  values: Float32Array;
}

/** Probes a batch of NHWC floats and reads every chosen layer's output back. */
export async function probe(
  model: tf.LayersModel,
  x: Float32Array,
  batch: number,
  names?: string[],
): Promise<LayerActivation[]> {
  const layers = resolveProbeLayers(model, names);
  const inShape = (model.inputs[0].shape as (number | null)[]).slice(1) as number[];
  const input = tf.tensor4d(x, [batch, ...inShape] as [number, number, number, number]);
  const outs = probeTensors(model, layers, input);
  input.dispose();
  try {
    const data = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
    return layers.map((l, i) => ({ ...l, values: data[i] }));
  } finally {
    for (const t of outs) t.dispose();
  }
}
