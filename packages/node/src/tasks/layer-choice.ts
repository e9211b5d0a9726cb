/**
 * Which layers and channels the inside-the-network jobs show. A small model (the lab's CNNs) is shown
 * whole; a big one (an ImageNet model: 224×224 input, dozens of conv layers, hundreds of channels) gets an
 * evenly spaced sample of its conv layers and its first channels, so a default run writes a few figures,
 * not thousands of tiles. What is left out is always reported.
 */
import type { tf } from '@convlens/core/engine/backend';
import { resolveLayerName } from '@convlens/core/models/layer-aliases';
import type { OpenedModel } from '../open/open-model.ts';

export const CONV_CLASSES: ReadonlySet<string> = new Set([
  'Conv2D',
  'DepthwiseConv2D',
  'SeparableConv2D',
  'Conv2DTranspose',
]);

/** Conv layers shown by default on a big model. */
export const DEFAULT_MAX_LAYERS = 8;
/** Channels per figure by default on a big model. */
export const DEFAULT_MAX_CHANNELS = 32;
/** Inputs up to this size (per side) are small. */
const SMALL_INPUT = 64;

/** The model's layers, or one line saying why a graph model has none. */
export function layersModel(m: OpenedModel): tf.LayersModel {
  if (m.graph) throw new Error(`${m.source}: graph model: no layers to show; import it as a layers model`);
  return m.model;
}

const isConv = (model: tf.LayersModel, name: string) => CONV_CLASSES.has(model.getLayer(name).getClassName());

/** Big: an input larger than 64 px a side, or more conv layers than are shown by default. */
export function isBig(m: OpenedModel): boolean {
  const [h, w] = m.inputShape;
  const convs = m.model.layers.filter((l) => CONV_CLASSES.has(l.getClassName())).length;
  return Math.min(h, w) > SMALL_INPUT || convs > DEFAULT_MAX_LAYERS;
}

/** --max-channels, or the default: every channel of a small model, 32 of a big one. */
export function maxChannels(m: OpenedModel, requested?: number): number {
  return requested ?? (isBig(m) ? DEFAULT_MAX_CHANNELS : Number.POSITIVE_INFINITY);
}

export interface LayerChoice {
  layers: string[];
  /** Candidates left out by the default (empty when --layers was given or everything fits). */
  omitted: string[];
}

/**
 * The requested layers as given, else the candidates (model order): all of them when at most `max` are
 * conv layers, otherwise `max` conv layers evenly spaced from the first to the last, plus a last
 * non-conv candidate (the dense head, e.g. logits). Depthwise convs are passed over when enough others
 * remain.
 */
export function chooseLayers(
  model: tf.LayersModel,
  candidates: string[],
  requested?: string[],
  { max = DEFAULT_MAX_LAYERS, preferMixing = true } = {},
): LayerChoice {
  // Names may be aliases (a converted ONNX model's PyTorch module names): use the layers' own names.
  if (requested && requested.length > 0)
    return { layers: requested.map((n) => resolveLayerName(model, n)), omitted: [] };
  const all = candidates.filter((n) => isConv(model, n));
  if (all.length <= max) return { layers: candidates, omitted: [] };
  // Depthwise convs mix no channels: sample the others when there are enough (MobileNet's pointwise).
  const mixing = all.filter((n) => model.getLayer(n).getClassName() !== 'DepthwiseConv2D');
  const convs = preferMixing && mixing.length >= max ? mixing : all;
  const keep = new Set<string>();
  for (let i = 0; i < max; i++) keep.add(convs[Math.round((i * (convs.length - 1)) / (max - 1))]);
  const last = candidates.at(-1);
  if (last && !isConv(model, last)) keep.add(last);
  return {
    layers: candidates.filter((n) => keep.has(n)),
    omitted: candidates.filter((n) => !keep.has(n)),
  };
}

/** One line naming what a default left out, e.g. "showing 8 of 29 layers (left out: …; pick with --layers)". */
export function omittedNote(choice: LayerChoice, flag = '--layers'): string | undefined {
  const n = choice.omitted.length;
  if (n === 0) return undefined;
  const list =
    n > 6 ? `${choice.omitted.slice(0, 6).join(', ')}, … (${n - 6} more)` : choice.omitted.join(', ');
  return `showing ${choice.layers.length} of ${choice.layers.length + n} layers (left out: ${list}; pick with ${flag})`;
}
