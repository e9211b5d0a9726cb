/**
 * What activation maximization optimizes: per image, a weighted sum of class scores, conv filter
 * activations and dense units. Every term of every image is folded into per-layer weight tensors, so a
 * whole batch of different objectives costs one forward/backward pass.
 */
import * as tf from '@tensorflow/tfjs';
import { LOGITS_LAYER } from '../../models/build.ts';
import { findLayer } from '../../models/layer-aliases.ts';
import { logitsModel } from '../../models/logits.ts';

/** One thing to look at. */
export type Target =
  /** A class score: the pre-softmax logit (keras-vis), or the softmax probability on request. */
  | { kind: 'class'; index: number; space?: 'logit' | 'probability' }
  /**
   * A conv filter's output: its mean over all positions, or its value at one [row, column]. Filters and
   * units of Conv2D/Dense layers with a fused activation are read before the activation (see Probe).
   */
  | { kind: 'filter'; layer: string; index: number; position?: [number, number] }
  /** One unit of a dense (rank-2) layer. */
  | { kind: 'unit'; layer: string; index: number };

export type Term = Target & { weight?: number };

/** One image's objective: Σ weight·target, maximized unless `minimize`. */
export interface Objective {
  terms: Term[];
  minimize?: boolean;
}

export const classObjective = (index: number, space: 'logit' | 'probability' = 'logit'): Objective => ({
  terms: [{ kind: 'class', index, space }],
});
export const filterObjective = (layer: string, index: number, position?: [number, number]): Objective => ({
  terms: [{ kind: 'filter', layer, index, ...(position ? { position } : {}) }],
});
export const unitObjective = (layer: string, index: number): Objective => ({
  terms: [{ kind: 'unit', layer, index }],
});

/** A short readable name: "class 3", "conv2 filter 5 @ (4,7)", "0.5·class 1 + 0.5·class 7", prefixed "min " when minimized. */
export function describeObjective(o: Objective): string {
  const one = (t: Term) => {
    const w = t.weight === undefined || t.weight === 1 ? '' : `${t.weight}·`;
    if (t.kind === 'class') return `${w}class ${t.index}${t.space === 'probability' ? ' (prob)' : ''}`;
    if (t.kind === 'unit') return `${w}${t.layer} unit ${t.index}`;
    return `${w}${t.layer} filter ${t.index}${t.position ? ` @ (${t.position.join(',')})` : ''}`;
  };
  return `${o.minimize ? 'min ' : ''}${o.terms.map(one).join(' + ')}`;
}

/**
 * A layer output a term reads. Conv2D and Dense layers with a fused non-linearity are read before it
 * (`linear` recomputes conv/matmul + bias from the layer's input with its own weights): a ReLU output
 * that starts at 0 has no gradient, and keras-vis likewise swaps such activations for linear ones.
 */
interface Probe {
  key: string;
  tensor: tf.SymbolicTensor;
  /** Output shape without the batch axis. */
  shape: number[];
  linear?: (input: tf.Tensor) => tf.Tensor;
}

function preActivation(layer: tf.layers.Layer): Probe['linear'] {
  const cfg = layer.getConfig() as Record<string, unknown>;
  const act = cfg.activation;
  if (act === undefined || act === 'linear') return undefined;
  const cls = layer.getClassName();
  if (cls !== 'Conv2D' && cls !== 'Dense') return undefined;
  return (x) => {
    const [kernel, bias] = layer.getWeights(); // the layer's variables themselves: shared, not copied
    let y =
      cls === 'Dense'
        ? x.matMul(kernel)
        : tf.conv2d(
            x as tf.Tensor4D,
            kernel as tf.Tensor4D,
            cfg.strides as [number, number],
            cfg.padding as 'valid' | 'same',
            'NHWC',
            cfg.dilationRate as [number, number],
          );
    if (cfg.useBias !== false && bias) y = y.add(bias);
    return y;
  };
}

function outputOf(model: tf.LayersModel, t: Term): Probe {
  if (t.kind === 'class') {
    const tensor = t.space === 'probability' ? model.outputs[0] : logitsModel(model).outputs[0]; // throws without logits
    return {
      key: t.space === 'probability' ? '#probs' : LOGITS_LAYER,
      tensor,
      shape: tensor.shape.slice(1) as number[],
    };
  }
  // A name or an alias (a converted ONNX model's PyTorch module names); keys use the layer's own name.
  const layer = findLayer(model, t.layer);
  if (!layer) {
    const names = model.layers.map((l) => l.name);
    throw new Error(`no layer '${t.layer}' in model '${model.name}' (layers: ${names.join(', ')})`);
  }
  const out = layer.output as tf.SymbolicTensor;
  const shape = out.shape.slice(1) as number[];
  const linear = preActivation(layer);
  if (linear) return { key: `${layer.name}#pre`, tensor: layer.input as tf.SymbolicTensor, shape, linear };
  return { key: layer.name, tensor: out, shape };
}

/** Throws a one-line message for any index, layer or position the model does not have. */
export function validateObjectives(model: tf.LayersModel, objectives: Objective[]): void {
  if (objectives.length === 0) throw new Error('no objective given');
  const numClasses = model.outputs[0].shape[model.outputs[0].shape.length - 1] as number;
  for (const o of objectives) {
    if (o.terms.length === 0) throw new Error('an objective needs at least one term');
    for (const t of o.terms) {
      if (!Number.isInteger(t.index) || t.index < 0) {
        throw new Error(`index must be a non-negative integer, got ${t.index}`);
      }
      if (t.weight !== undefined && !Number.isFinite(t.weight))
        throw new Error(`term weight must be finite, got ${t.weight}`);
      if (t.kind === 'class') {
        if (t.index >= numClasses) {
          throw new Error(
            `class ${t.index} is out of range: the model has ${numClasses} classes (0-${numClasses - 1})`,
          );
        }
        outputOf(model, t);
        continue;
      }
      const { shape } = outputOf(model, t);
      if (t.kind === 'filter') {
        if (shape.length !== 3) {
          throw new Error(`layer ${t.layer} has no filters (output [${shape}]); use a unit for dense layers`);
        }
        if (t.index >= shape[2]) {
          throw new Error(
            `filter ${t.index} is out of range: layer ${t.layer} has ${shape[2]} filters (0-${shape[2] - 1})`,
          );
        }
        const p = t.position;
        if (
          p &&
          !(p[0] >= 0 && p[0] < shape[0] && p[1] >= 0 && p[1] < shape[1] && p.every(Number.isInteger))
        ) {
          throw new Error(`position (${p}) is outside layer ${t.layer}'s ${shape[0]}×${shape[1]} output`);
        }
      } else {
        if (shape.length !== 1) {
          throw new Error(
            `layer ${t.layer} is not a dense layer (output [${shape}]); use a filter for conv layers`,
          );
        }
        if (t.index >= shape[0]) {
          throw new Error(
            `unit ${t.index} is out of range: layer ${t.layer} has ${shape[0]} units (0-${shape[0] - 1})`,
          );
        }
      }
    }
  }
}

/** A batch's objectives compiled to one multi-output net plus weights; owns tensors: call dispose(). */
export interface CompiledObjective {
  /** Per-image objective values [B] for a batch of model inputs (the value maximized, sign included). */
  apply(x: tf.Tensor4D): tf.Tensor1D;
  dispose(): void;
}

const nets = new WeakMap<tf.LayersModel, Map<string, tf.LayersModel>>();

/** A model with the given outputs, cached per model (it shares the model's layers and weights). */
function probeNet(model: tf.LayersModel, keys: string[], outputs: tf.SymbolicTensor[]): tf.LayersModel {
  let cache = nets.get(model);
  if (!cache) {
    cache = new Map();
    nets.set(model, cache);
  }
  const id = keys.join('|');
  let net = cache.get(id);
  if (!net) {
    net = tf.model({ inputs: model.inputs, outputs, name: `${model.name}_actmax_${cache.size}` });
    cache.set(id, net);
  }
  return net;
}

/**
 * Compiles objectives (one per batch image). Means over positions are taken before weighting, so a
 * filter-mean term only needs a [B, filters] weight; single positions use a full [B, H, W, C] mask.
 */
export function compileObjectives(model: tf.LayersModel, objectives: Objective[]): CompiledObjective {
  validateObjectives(model, objectives);
  const B = objectives.length;
  type Slot = Probe & { mean?: Float32Array; at?: Float32Array };
  const slots = new Map<string, Slot>();
  objectives.forEach((o, b) => {
    const sign = o.minimize ? -1 : 1;
    for (const t of o.terms) {
      const probe = outputOf(model, t);
      const { key, shape } = probe;
      let slot = slots.get(key);
      if (!slot) {
        slot = { ...probe };
        slots.set(key, slot);
      }
      const w = sign * (t.weight ?? 1);
      const channels = shape[shape.length - 1];
      if (t.kind === 'filter' && t.position) {
        slot.at ??= new Float32Array(B * shape[0] * shape[1] * shape[2]);
        const [r, c] = t.position;
        slot.at[((b * shape[0] + r) * shape[1] + c) * shape[2] + t.index] += w;
      } else {
        slot.mean ??= new Float32Array(B * channels);
        slot.mean[b * channels + t.index] += w;
      }
    }
  });
  const keys = [...slots.keys()];
  const net = probeNet(
    model,
    keys,
    keys.map((k) => slots.get(k)!.tensor),
  );
  const weights = keys.map((k) => {
    const { shape, mean, at, linear } = slots.get(k)!;
    return {
      mean: mean ? tf.tensor2d(mean, [B, shape[shape.length - 1]]) : null,
      at: at ? tf.tensor(at, [B, ...shape]) : null,
      linear,
    };
  });
  return {
    apply(x) {
      return tf.tidy(() => {
        const outs = net.apply(x, { training: false }) as tf.Tensor | tf.Tensor[];
        const list = Array.isArray(outs) ? outs : [outs];
        let total: tf.Tensor1D = tf.zeros([x.shape[0]]);
        list.forEach((raw, i) => {
          const { mean, at, linear } = weights[i];
          const out = linear ? linear(raw) : raw;
          if (mean) {
            const pooled = out.rank === 4 ? out.mean([1, 2]) : out;
            total = total.add(pooled.mul(mean).sum(1));
          }
          if (at) total = total.add(out.mul(at).sum([1, 2, 3]));
        });
        return total;
      });
    },
    dispose() {
      for (const w of weights) {
        w.mean?.dispose();
        w.at?.dispose();
      }
    },
  };
}
