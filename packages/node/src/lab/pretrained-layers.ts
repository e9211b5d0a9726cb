/**
 * Which layers the lab looks inside on a model it did not build: a few conv layers spread over depth,
 * each read after its batch norm and activation — what the next layer sees, on the activation's own
 * scale (before it, one channel whose normalized values reach ±30 sets every map's colours). Units are
 * maximized before the activation, as Lucid does (its `_pre_relu` layers): ReLU6 passes no gradient
 * once a unit is past 6. Kernels: the conv's own, or for a 1×1 (pointwise) conv the spatial conv feeding
 * it (MobileNet's depthwise 3×3).
 */
import type { tf } from '@convlens/core/engine/backend';

const CONV = new Set(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D']);
/** Layers that pass a conv's output on unchanged in shape: its normalization and activation. */
const FOLLOW = new Set(['BatchNormalization', 'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'PReLU']);
/** What the lab reads a conv at: after these (its normalization). */
const NORMALIZE = new Set(['BatchNormalization']);

/** Layers the lab shows on a big model by default. */
export const DEFAULT_LAYER_COUNT = 4;

type L = tf.layers.Layer & { inboundNodes?: unknown[]; outboundNodes?: { outboundLayer: L }[] };

const spatialSize = (l: tf.layers.Layer): number[] | undefined => {
  const s = l.outputShape as (number | null)[];
  return Array.isArray(s) && s.length === 4 && s.slice(1).every((d) => d !== null)
    ? (s.slice(1) as number[])
    : undefined;
};

/** The last layer of the chain conv → `kinds`… (each the previous one's only consumer). */
function follow(conv: L, kinds: ReadonlySet<string>): L {
  let l = conv;
  for (;;) {
    const out = l.outboundNodes ?? [];
    if (out.length !== 1) return l;
    const next = out[0].outboundLayer;
    if (!kinds.has(next.getClassName())) return l;
    l = next;
  }
}

/** The conv whose output a layer is (walking back over batch norm and activations). */
function convOf(layer: L): L | undefined {
  let l: L | undefined = layer;
  while (l && !CONV.has(l.getClassName())) {
    if (!FOLLOW.has(l.getClassName())) return undefined;
    l = (l.input as tf.SymbolicTensor | undefined)?.sourceLayer as L | undefined;
  }
  return l;
}

const kernelSize = (l: tf.layers.Layer) => {
  const k = (l as unknown as { kernelSize?: number[] }).kernelSize;
  return k ? k[0] * k[1] : 1;
};

/** The layer whose kernels show a layer's pattern: its conv, or the spatial conv feeding a 1×1 one. */
function filterLayer(layer: L): string | undefined {
  const conv = convOf(layer);
  if (!conv) return undefined;
  if (kernelSize(conv) > 1) return conv.name;
  const before = convOf((conv.input as tf.SymbolicTensor).sourceLayer as L);
  return before && kernelSize(before) > 1 ? before.name : undefined;
}

export interface FeatureLayers {
  /** Feature maps and statistics: after the batch norm and activation. */
  layers: string[];
  /** Unit maximization: before the activation (after the batch norm). */
  unitLayers: string[];
  filterLayers: string[];
}

/**
 * --layers as given (checked), else every conv layer with a spatial output when there are at most
 * `count`, else `count` of them evenly spaced from first to last (plain and pointwise convs preferred
 * over depthwise ones, which mix no channels), each read after its normalization.
 */
export function chooseFeatureLayers(
  model: tf.LayersModel,
  requested?: string[],
  count = DEFAULT_LAYER_COUNT,
): FeatureLayers {
  const layers = model.layers as L[];
  let chosen: L[];
  if (requested?.length) {
    chosen = requested.map((name) => {
      const l = layers.find((x) => x.name === name);
      const valid = () =>
        layers
          .filter((x) => spatialSize(x) && x.getClassName() !== 'InputLayer')
          .map((x) => x.name)
          .join(', ');
      if (!l) throw new Error(`--layers: no layer '${name}' in the model (spatial layers: ${valid()})`);
      if (!spatialSize(l) || l.getClassName() === 'InputLayer')
        throw new Error(`--layers: '${name}' has no spatial output; pick from: ${valid()}`);
      return l;
    });
  } else {
    const convs = layers.filter((l) => {
      const s = spatialSize(l);
      return CONV.has(l.getClassName()) && s && s[0] > 1 && s[1] > 1;
    });
    const mixing = convs.filter((l) => l.getClassName() !== 'DepthwiseConv2D');
    const pool = mixing.length >= count ? mixing : convs;
    if (pool.length === 0) throw new Error(`model '${model.name}' has no conv layer with a spatial output`);
    const picks =
      pool.length <= count
        ? pool
        : [
            ...new Set(
              Array.from(
                { length: count },
                (_, i) => pool[Math.round((i * (pool.length - 1)) / (count - 1))],
              ),
            ),
          ];
    chosen = picks;
  }
  // --layers are taken as named; a chosen conv is read after its norm and activation.
  const convs = requested?.length ? undefined : chosen;
  const filterLayers = [...new Set(chosen.map(filterLayer).filter((n): n is string => n !== undefined))];
  return {
    layers: (convs ? convs.map((l) => follow(l, FOLLOW)) : chosen).map((l) => l.name),
    unitLayers: (convs ? convs.map((l) => follow(l, NORMALIZE)) : chosen).map((l) => l.name),
    filterLayers,
  };
}
