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
  | { kind: 'unit'; layer: string; index: number }
  /**
   * Lucid's direction: the layer's activation vector (mean over positions for conv layers) dotted with
   * `vector` (one value per channel). `index` is 0 (unused; kept so every term has one). With
   * `position`, the activation vector at that [row, column] only (Lucid's direction_neuron: a mean over
   * positions can be raised by brightening everything, one position has to draw a feature).
   */
  | { kind: 'direction'; layer: string; index: number; vector: number[]; position?: [number, number] };

export type Term = Target & { weight?: number };

/** A product term: weight · Π factors (Lucid's objective products). */
export interface Product {
  weight: number;
  factors: Target[];
}

/** One image's objective: Σ weight·target + Σ products, maximized unless `minimize`. */
export interface Objective {
  terms: Term[];
  /** Products of two or more targets (objective algebra); linear objectives have none. */
  products?: Product[];
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
    const w = t.weight === undefined || t.weight === 1 ? '' : t.weight === -1 ? '-' : `${t.weight}·`;
    if (t.kind === 'class') return `${w}class ${t.index}${t.space === 'probability' ? ' (prob)' : ''}`;
    if (t.kind === 'unit') return `${w}${t.layer} unit ${t.index}`;
    if (t.kind === 'direction')
      return `${w}${t.layer} direction${t.position ? ` @ (${t.position.join(',')})` : ''}`;
    return `${w}${t.layer} filter ${t.index}${t.position ? ` @ (${t.position.join(',')})` : ''}`;
  };
  const products = (o.products ?? []).map(
    (p) => `${p.weight === 1 ? '' : `${p.weight}·`}${p.factors.map((f) => `(${one(f)})`).join('·')}`,
  );
  return `${o.minimize ? 'min ' : ''}${[...o.terms.map(one), ...products].join(' + ')}`.replace(
    /\+ -/g,
    '− ',
  );
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
    if (o.terms.length === 0 && !o.products?.length) throw new Error('an objective needs at least one term');
    for (const p of o.products ?? []) {
      if (!Number.isFinite(p.weight)) throw new Error(`product weight must be finite, got ${p.weight}`);
      if (p.factors.length < 2) throw new Error('a product needs at least two factors');
    }
    for (const t of [...o.terms, ...(o.products ?? []).flatMap((p) => p.factors)] as Term[]) {
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
      if (t.kind === 'direction') {
        const c = shape[shape.length - 1];
        if (t.vector.length !== c)
          throw new Error(
            `direction for layer ${t.layer} has ${t.vector.length} values, the layer has ${c} channels`,
          );
        if (!t.vector.every(Number.isFinite))
          throw new Error(`direction for layer ${t.layer} has non-finite values`);
        checkPosition(t.position, shape, t.layer);
        continue;
      }
      if (t.kind === 'filter') {
        if (shape.length !== 3) {
          throw new Error(`layer ${t.layer} has no filters (output [${shape}]); use a unit for dense layers`);
        }
        if (t.index >= shape[2]) {
          throw new Error(
            `filter ${t.index} is out of range: layer ${t.layer} has ${shape[2]} filters (0-${shape[2] - 1})`,
          );
        }
        checkPosition(t.position, shape, t.layer);
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
  /** The same values and the outputs of the tapped layers (compile option `taps`), from one forward pass. */
  forward(x: tf.Tensor4D): { value: tf.Tensor1D; taps: tf.Tensor[] };
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

/** A [row, column] inside a conv layer's [h, w, c] output, or none. */
function checkPosition(p: [number, number] | undefined, shape: number[], layer: string): void {
  if (!p) return;
  if (shape.length !== 3) throw new Error(`layer ${layer} has no positions (output [${shape}])`);
  if (!(p[0] >= 0 && p[0] < shape[0] && p[1] >= 0 && p[1] < shape[1] && p.every(Number.isInteger)))
    throw new Error(`position (${p}) is outside layer ${layer}'s ${shape[0]}×${shape[1]} output`);
}

type Slot = Probe & { mean?: Float32Array; at?: Float32Array };

/** Adds weight·target for image b into its slot's weights (mean over positions, or one position). */
function addTerm(slot: Slot, t: Target, b: number, w: number, B: number): void {
  const { shape } = slot;
  const channels = shape[shape.length - 1];
  if (t.kind === 'filter' && t.position) {
    slot.at ??= new Float32Array(B * shape[0] * shape[1] * shape[2]);
    const [r, c] = t.position;
    slot.at[((b * shape[0] + r) * shape[1] + c) * shape[2] + t.index] += w;
  } else if (t.kind === 'direction' && t.position) {
    slot.at ??= new Float32Array(B * shape[0] * shape[1] * shape[2]);
    const [r, col] = t.position;
    const at = ((b * shape[0] + r) * shape[1] + col) * shape[2];
    for (let c = 0; c < channels; c++) slot.at[at + c] += w * t.vector[c];
  } else if (t.kind === 'direction') {
    slot.mean ??= new Float32Array(B * channels);
    for (let c = 0; c < channels; c++) slot.mean[b * channels + c] += w * t.vector[c];
  } else {
    slot.mean ??= new Float32Array(B * channels);
    slot.mean[b * channels + t.index] += w;
  }
}

/**
 * Compiles objectives (one per batch image). Means over positions are taken before weighting, so a
 * filter-mean term only needs a [B, filters] weight; single positions use a full [B, H, W, C] mask.
 * Linear terms of all images fold into one weighted sum per layer. A product's factors are each
 * evaluated the same way (weights for every image) and multiplied, then kept for its own image only.
 * `taps`: layers whose outputs forward() also returns (the diversity penalty reads them).
 */
export function compileObjectives(
  model: tf.LayersModel,
  objectives: Objective[],
  opts: { taps?: string[] } = {},
): CompiledObjective {
  validateObjectives(model, objectives);
  const B = objectives.length;
  const slots = new Map<string, Slot>();
  const slotOf = (t: Target): Slot => {
    const probe = outputOf(model, t);
    let slot = slots.get(probe.key);
    if (!slot) {
      slot = { ...probe };
      slots.set(probe.key, slot);
    }
    return slot;
  };
  // Distinct product factors, each with its own weights (1 for every image) in a slot of its own.
  const factorSlots: Slot[] = [];
  const factorIds = new Map<string, number>();
  const monomials: { b: number; weight: number; factors: number[] }[] = [];
  objectives.forEach((o, b) => {
    const sign = o.minimize ? -1 : 1;
    for (const t of o.terms) addTerm(slotOf(t), t, b, sign * (t.weight ?? 1), B);
    for (const p of o.products ?? []) {
      const ids = p.factors.map((f) => {
        const id = JSON.stringify(f);
        let k = factorIds.get(id);
        if (k === undefined) {
          const base = slotOf(f);
          const slot: Slot = { key: base.key, tensor: base.tensor, shape: base.shape, linear: base.linear };
          for (let i = 0; i < B; i++) addTerm(slot, f, i, 1, B);
          k = factorSlots.push(slot) - 1;
          factorIds.set(id, k);
        }
        return k;
      });
      monomials.push({ b, weight: sign * p.weight, factors: ids });
    }
  });
  const keys = [...slots.keys()];
  // A tap may be a tensor a slot already reads (a pre-activation probe reads its layer's input):
  // a model cannot list one tensor twice, so such taps share that output.
  const outputs = keys.map((k) => slots.get(k)!.tensor);
  const outputKeys = [...keys];
  const tapIndex = (opts.taps ?? []).map((name) => {
    const layer = findLayer(model, name);
    if (!layer) throw new Error(`no layer '${name}' in model '${model.name}'`);
    const t = layer.output as tf.SymbolicTensor;
    const at = outputs.indexOf(t);
    if (at >= 0) return at;
    outputKeys.push(`tap:${layer.name}`);
    return outputs.push(t) - 1;
  });
  const net = probeNet(model, outputKeys, outputs);
  const toTensors = (slot: Slot) => ({
    mean: slot.mean ? tf.tensor2d(slot.mean, [B, slot.shape[slot.shape.length - 1]]) : null,
    at: slot.at ? tf.tensor(slot.at, [B, ...slot.shape]) : null,
    linear: slot.linear,
  });
  const weights = keys.map((k) => toTensors(slots.get(k)!));
  const factorWeights = factorSlots.map((f) => ({ ...toTensors(f), output: keys.indexOf(f.key) }));
  const masks = monomials.map((mono) => {
    const m = new Float32Array(B);
    m[mono.b] = mono.weight;
    return tf.tensor1d(m);
  });
  const reduce = (out: tf.Tensor, w: { mean: tf.Tensor | null; at: tf.Tensor | null }): tf.Tensor1D => {
    let v: tf.Tensor = tf.zeros([out.shape[0]]);
    if (w.mean) v = v.add((out.rank === 4 ? out.mean([1, 2]) : out).mul(w.mean).sum(1));
    if (w.at) v = v.add(out.mul(w.at).sum([1, 2, 3]));
    return v as tf.Tensor1D;
  };
  const forward = (x: tf.Tensor4D) => {
    const outs = net.apply(x, { training: false }) as tf.Tensor | tf.Tensor[];
    const list = Array.isArray(outs) ? outs : [outs];
    const raw = list.slice(0, keys.length);
    // Pre-activation outputs, computed once per slot and shared by its terms and factors.
    const views = raw.map((r, i) => (weights[i].linear ? weights[i].linear!(r) : r));
    let total: tf.Tensor1D = tf.zeros([x.shape[0]]);
    views.forEach((out, i) => {
      total = total.add(reduce(out, weights[i]));
    });
    if (monomials.length) {
      const values = factorWeights.map((f) => reduce(views[f.output], f));
      monomials.forEach((mono, i) => {
        let prod: tf.Tensor = masks[i];
        for (const k of mono.factors) prod = prod.mul(values[k]);
        total = total.add(prod);
      });
    }
    return { value: total, taps: tapIndex.map((i) => list[i]) };
  };
  return {
    apply(x) {
      return tf.tidy(() => forward(x).value);
    },
    forward,
    dispose() {
      for (const w of [...weights, ...factorWeights]) {
        w.mean?.dispose();
        w.at?.dispose();
      }
      for (const m of masks) m.dispose();
    },
  };
}
