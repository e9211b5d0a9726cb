/**
 * DeconvNet (Zeiler & Fergus, "Visualizing and understanding convolutional networks"): keep only the
 * strongest activation of a layer (one unit, or one channel's whole map), set everything else to zero
 * and project it back to pixel space. Going down, a ReLU passes relu(signal) whatever its forward
 * input was, a max pool routes the signal through the recorded switches, a conv applies its
 * transposed filters. The last two are exactly the ordinary gradients, so only the ReLUs are swapped
 * (as guided.ts does for guided backprop) while the gradient of the kept activations is taken.
 */
import * as tf from '@tensorflow/tfjs';
import { finish, pickLayer, resolveTargets } from './common.ts';
import { withGuidedRelus } from './guided.ts';
import { withReluRule } from './relu-rules.ts';
import type { ExplainMethod } from './types.ts';

export interface DeconvOptions {
  /**
   * 'max': the single strongest unit of the layer (default); 'channel': one channel's whole map;
   * 'channel-max': the strongest unit of one channel (Zeiler & Fergus's top-9 figures).
   */
  mode?: 'max' | 'channel' | 'channel-max';
  /** Channel for modes 'channel' and 'channel-max'. */
  channel?: number;
  /**
   * How gradients pass the ReLUs going down: 'deconvnet' (default) or 'guided' (guided backprop of
   * the same kept activations, for side-by-side comparisons).
   */
  rule?: 'deconvnet' | 'guided';
}

/** Runs `fn` with every ReLU of `model` (fused activations, ReLU layers) using the DeconvNet rule: relu(signal). */
export function withDeconvRelus<T>(model: tf.LayersModel, fn: () => T): T {
  return withReluRule(model, (dy) => tf.relu(dy), 'deconv', fn);
}

export interface DeconvProjection {
  /** [N, H, W, C] projection of the kept activation(s) into input space (caller disposes). */
  projection: tf.Tensor4D;
  layer: string;
  /** Per input: the strongest unit [y, x, channel] (within the channel for mode 'channel'). */
  units: [number, number, number][];
  /** Per input: that unit's activation. */
  activations: number[];
  /** pickLayer's note (1×1 layer), if any. */
  warning?: string;
}

// Sub-models from the input to a layer, per model: building one is cheap but not free.
const subModels = new WeakMap<tf.LayersModel, Map<string, tf.LayersModel>>();

function upTo(model: tf.LayersModel, layer: tf.layers.Layer): tf.LayersModel {
  let byName = subModels.get(model);
  if (!byName) {
    byName = new Map();
    subModels.set(model, byName);
  }
  let sub = byName.get(layer.name);
  if (!sub) {
    sub = tf.model({ inputs: model.inputs, outputs: layer.output as tf.SymbolicTensor });
    byName.set(layer.name, sub);
  }
  return sub;
}

/**
 * The DeconvNet projection of each input's strongest activation at `layer` (default: pickLayer's).
 * The kept activations keep their values (everything else zero), as in Zeiler & Fergus, so a dead
 * unit projects to nothing. Exported for the lab's top-9 projection grids.
 */
export async function deconvProjection(
  model: tf.LayersModel,
  input: tf.Tensor4D,
  options: DeconvOptions & { layer?: string } = {},
): Promise<DeconvProjection> {
  const mode = options.mode ?? 'max';
  if (mode !== 'max' && mode !== 'channel' && mode !== 'channel-max')
    throw new Error(`deconvnet mode must be max, channel or channel-max, got '${mode}'`);
  const rule = options.rule ?? 'deconvnet';
  if (rule !== 'deconvnet' && rule !== 'guided')
    throw new Error(`deconvnet rule must be deconvnet or guided, got '${rule}'`);
  const { layer, warning } = pickLayer(model, options.layer);
  const sub = upTo(model, layer);
  const acts = tf.tidy(() => sub.apply(input, { training: false }) as tf.Tensor4D);
  const [n, h, w, c] = acts.shape;
  const a = (await acts.data()) as Float32Array;
  acts.dispose();
  let channel: number | undefined;
  if (mode !== 'max') {
    channel = options.channel;
    if (channel === undefined || !Number.isInteger(channel) || channel < 0 || channel >= c)
      throw new Error(
        `deconvnet mode '${mode}' needs option channel, an integer in 0–${c - 1} (layer '${layer.name}' has ${c} channels), got ${channel}`,
      );
  }
  const keep = new Float32Array(a.length);
  const units: [number, number, number][] = [];
  const activations: number[] = [];
  const per = h * w * c;
  for (let i = 0; i < n; i++) {
    let best = -1;
    for (let p = channel ?? 0; p < per; p += channel === undefined ? 1 : c)
      if (best < 0 || a[i * per + p] > a[i * per + best]) best = p;
    const pix = Math.floor(best / c);
    units.push([Math.floor(pix / w), pix % w, best % c]);
    activations.push(a[i * per + best]);
    if (mode !== 'channel') keep[i * per + best] = a[i * per + best];
    else for (let p = channel ?? 0; p < per; p += c) keep[i * per + p] = a[i * per + p];
  }
  const projection = tf.tidy(() => {
    const k = tf.tensor4d(keep, [n, h, w, c]);
    // d(Σ out·keep)/dx = Jᵀ·keep: the kept map sent down through the network with the swapped ReLUs.
    return (rule === 'guided' ? withGuidedRelus : withDeconvRelus)(model, () =>
      tf.grad((x: tf.Tensor) => tf.sum(tf.mul(sub.apply(x, { training: false }) as tf.Tensor, k)))(input),
    ) as tf.Tensor4D;
  });
  return { projection, layer: layer.name, units, activations, warning };
}

export const deconvnet: ExplainMethod<DeconvOptions> = {
  id: 'deconvnet',
  title: 'DeconvNet',
  description:
    'Projects the strongest activation of a layer back to pixels (Zeiler & Fergus): ReLUs pass the positive part of the signal going down, pools route it through their switches. Shows what pattern drove that unit; the class does not enter.',
  needsLayer: true,
  async explain(req) {
    const targets = resolveTargets(req.model, req);
    const p = await deconvProjection(req.model, req.input, { ...req.options, layer: req.layer });
    const maps = tf.tidy(() => tf.max(tf.abs(p.projection), 3) as tf.Tensor3D);
    p.projection.dispose();
    try {
      return await finish('deconvnet', maps, targets, false, {
        layer: p.layer,
        warnings: p.activations.map((v) => [
          ...(p.warning ? [p.warning] : []),
          ...(v > 0 ? [] : [`strongest activation at '${p.layer}' is ${v}: nothing to project`]),
        ]),
        meta: {
          layer: p.layer,
          mode: req.options?.mode ?? 'max',
          unit: p.units,
          activation: p.activations,
        },
      });
    } finally {
      maps.dispose();
    }
  },
};
