/**
 * Layer-wise relevance propagation rules (Bach et al. 2015; Montavon et al. 2019, "LRP: an
 * overview") as gradient surgery on a tfjs layers model. Relevance is carried as R = c ⊙ a, c being
 * what flows back as the "gradient": each linear layer (conv, depthwise conv, dense, batch norm,
 * average pooling) is swapped for an expression equal to its output whose gradient applies the rule
 * — ε: c_in = Wᵀ(c ⊙ z/(z + ε·sign z)); αβ: α W⁺ᵀ(c ⊙ z/z⁺) − β W⁻ᵀ(c ⊙ z/z⁻) with positive and
 * negative contributions split by the signs of inputs and weights. ReLU-like activations pass
 * relevance unchanged (gradient y/z), max pooling gives it to the winner. The first linear layer
 * (the one reading the input) returns relevance itself rather than c: z⁺ (α=1, β=0, no bias), w²
 * (by squared weights, whatever the input) or the common rule. Average pooling always takes the ε
 * rule: its weights are all positive, so αβ would scale its relevance by α. Batch norm right after a linear
 * layer is folded into it, as zennit's canonizers do.
 */
import * as tf from '@tensorflow/tfjs';
import {
  type AnyLayer,
  activationName,
  firstInput,
  frozen,
  type LayerPatch,
  scoreLayers,
  stopGradient,
  withGradientOf,
} from './layer-patch.ts';

/** 'epsilon-plus': αβ on convolutions, ε on dense layers (and convs over 1×1 maps), as zennit's EpsilonPlus composite. */
export type LrpRule = 'epsilon' | 'alpha-beta' | 'epsilon-plus';
export type LrpFirstRule = 'zplus' | 'w2' | 'same';

export interface LrpSettings {
  rule: LrpRule;
  /** ε of the ε rule (absolute, added to |z|). */
  epsilon: number;
  /** α of the αβ rule; β = α − 1. */
  alpha: number;
  first: LrpFirstRule;
}

/** Which weights a linear map uses: W, its positive or negative part, or W². */
type Part = 'w' | 'pos' | 'neg' | 'sq';

/** A linear layer as a map of its input under each part of its weights, plus its bias. */
interface Linear {
  apply(a: tf.Tensor, part: Part): tf.Tensor;
  bias?: tf.Tensor;
}

/** Layers that move values without arithmetic (and the input): relevance passes as the gradient does. */
const PASS = new Set([
  'InputLayer',
  'Flatten',
  'Reshape',
  'Permute',
  'Dropout',
  'SpatialDropout1D',
  'SpatialDropout2D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'ZeroPadding2D',
  'Cropping2D',
  'Concatenate',
  // The sum's gradient is the z-rule with ε = 0: each summand keeps its share.
  'Add',
  // Winner takes all.
  'MaxPooling2D',
  'GlobalMaxPooling2D',
]);

const LINEAR = new Set([
  'Conv2D',
  'DepthwiseConv2D',
  'Dense',
  'BatchNormalization',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'ConvlensPreActivation',
]);

/** Activations whose relevance rule is "pass unchanged" (y/z ≥ 0, y = 0 where z = 0). */
const RELU_LIKE = new Set(['relu', 'relu6', 'elu', 'linear']);

const SUPPORTED =
  'Conv2D, DepthwiseConv2D, Dense, BatchNormalization, Average/GlobalAveragePooling2D, Max/GlobalMaxPooling2D, ReLU, LeakyReLU, ELU, relu/relu6/elu/linear activations, Flatten, Reshape, Dropout, ZeroPadding2D, Cropping2D, Add, Concatenate';

const pair = (v: number | number[]): [number, number] => (Array.isArray(v) ? [v[0], v[1] ?? v[0]] : [v, v]);

/** The weight tensor for a part. */
function weightPart(w: tf.Tensor, part: Part): tf.Tensor {
  if (part === 'pos') return tf.relu(w);
  if (part === 'neg') return tf.minimum(w, 0);
  if (part === 'sq') return tf.square(w);
  return w;
}

/** Inference batch norm as y = s·x + t per channel. */
function bnAffine(bn: AnyLayer): { s: tf.Tensor1D; t: tf.Tensor1D } {
  const mean = bn.movingMean.read() as tf.Tensor1D;
  const variance = bn.movingVariance.read() as tf.Tensor1D;
  const gamma = bn.scale && bn.gamma ? (bn.gamma.read() as tf.Tensor1D) : tf.onesLike(mean);
  const beta = bn.center && bn.beta ? (bn.beta.read() as tf.Tensor1D) : tf.zerosLike(mean);
  const s = tf.div(gamma, tf.sqrt(tf.add(variance, bn.epsilon))) as tf.Tensor1D;
  return { s, t: tf.sub(beta, tf.mul(mean, s)) as tf.Tensor1D };
}

function channelsLast(layer: AnyLayer): void {
  if (layer.dataFormat && layer.dataFormat !== 'channelsLast')
    throw new Error(
      `LRP: layer '${layer.name}' (${layer.getClassName()}) is channels-first; only channels-last is supported`,
    );
}

/** The linear map of a layer (with a following batch norm folded in), built inside the caller's tidy. */
function linearOf(layer: AnyLayer, bn?: AnyLayer): Linear {
  const cls = layer.getClassName();
  const fold = bn ? bnAffine(bn) : undefined;
  if (cls === 'Conv2D' || cls === 'DepthwiseConv2D' || cls === 'Dense') {
    channelsLast(layer);
    let w = (cls === 'DepthwiseConv2D' ? layer.depthwiseKernel : layer.kernel).read() as tf.Tensor;
    let b = layer.useBias && layer.bias ? (layer.bias.read() as tf.Tensor) : undefined;
    if (fold) {
      // Output channel o of a depthwise conv is input channel ⌊o/m⌋'s multiplier o mod m: s reshaped to [in, m].
      const s = cls === 'DepthwiseConv2D' ? tf.reshape(fold.s, w.shape.slice(2)) : fold.s;
      w = tf.mul(w, s);
      b = b ? tf.add(tf.mul(b, fold.s), fold.t) : fold.t;
    }
    // Not cached: a part first made inside frozen() would be disposed with that scope.
    const part = (p: Part) => weightPart(w, p);
    if (cls === 'Dense')
      return {
        bias: b,
        apply: (a, p) => {
          const k = part(p);
          const flat = tf.matMul(tf.reshape(a, [-1, a.shape[a.rank - 1]]), k as tf.Tensor2D);
          return tf.reshape(flat, [...a.shape.slice(0, -1), k.shape[1] as number]);
        },
      };
    const strides = pair(layer.strides);
    const dilation = pair(layer.dilationRate ?? 1);
    if (cls === 'Conv2D')
      return {
        bias: b,
        apply: (a, p) =>
          tf.conv2d(a as tf.Tensor4D, part(p) as tf.Tensor4D, strides, layer.padding, 'NHWC', dilation),
      };
    return {
      bias: b,
      apply: (a, p) =>
        tf.depthwiseConv2d(
          a as tf.Tensor4D,
          part(p) as tf.Tensor4D,
          strides,
          layer.padding,
          'NHWC',
          dilation,
        ),
    };
  }
  if (cls === 'BatchNormalization') {
    const axis = layer.axis as number;
    if (axis !== -1 && axis !== (layer.inputSpec?.[0]?.ndim ?? 4) - 1 && axis !== 3)
      throw new Error(
        `LRP: batch norm '${layer.name}' normalizes axis ${axis}; only the channel (last) axis is supported`,
      );
    const { s, t } = bnAffine(layer);
    return { bias: t, apply: (a, p) => tf.mul(a, weightPart(s, p)) };
  }
  if (cls === 'AveragePooling2D' || cls === 'GlobalAveragePooling2D') {
    channelsLast(layer);
    const pool = (a: tf.Tensor) =>
      cls === 'GlobalAveragePooling2D'
        ? tf.mean(a, [1, 2])
        : tf.avgPool(
            a as tf.Tensor4D,
            pair(layer.poolSize),
            pair(layer.strides ?? layer.poolSize),
            layer.padding,
          );
    // All weights positive: the negative part maps everything to zero.
    return { apply: (a, p) => (p === 'neg' ? tf.zerosLike(pool(a)) : pool(a)) };
  }
  throw new Error(`LRP: no linear map for layer '${layer.name}' (class ${cls})`);
}

/** z / d where d ≠ 0, else 0. */
function safeRatio(z: tf.Tensor, d: tf.Tensor): tf.Tensor {
  const zero = tf.equal(d, 0);
  return tf.where(zero, tf.zerosLike(z), tf.div(z, tf.where(zero, tf.onesLike(d), d)));
}

/** `a` unchanged, but the gradient reaching it is multiplied by `a`: turns c into relevance a ⊙ c. */
function relevanceInput(a: tf.Tensor): tf.Tensor {
  const fixed = stopGradient(a);
  return tf.mul(fixed, tf.add(1, tf.sub(a, fixed)));
}

/** The layer's output z = L(a) + b, with the gradient of the rule. */
function applyRule(
  lin: Linear,
  a: tf.Tensor,
  rule: 'epsilon' | 'alpha-beta' | 'zplus' | 'w2',
  s: LrpSettings,
): tf.Tensor {
  const plusBias = (t: tf.Tensor, b?: tf.Tensor) => (b ? tf.add(t, b) : t);
  const z = plusBias(lin.apply(a, 'w'), lin.bias);
  if (rule === 'epsilon') {
    const ratio = frozen((zz) => {
      const sign = tf.where(tf.greaterEqual(zz, 0), tf.onesLike(zz), tf.neg(tf.onesLike(zz)));
      return safeRatio(zz, tf.add(zz, tf.mul(sign, s.epsilon)));
    }, z);
    return withGradientOf(z, tf.mul(lin.apply(a, 'w'), ratio));
  }
  if (rule === 'w2') {
    // Relevance by squared weights, independent of the input: N = Σᵢ wᵢⱼ² over each output's inputs.
    const ratio = frozen((zz, aa) => safeRatio(zz, lin.apply(tf.onesLike(aa), 'sq')), z, a);
    return withGradientOf(z, tf.mul(lin.apply(a, 'sq'), ratio));
  }
  const alpha = rule === 'zplus' ? 1 : s.alpha;
  const beta = alpha - 1;
  const ap = tf.relu(a);
  const an = tf.minimum(a, 0);
  const pos = tf.add(lin.apply(ap, 'pos'), lin.apply(an, 'neg'));
  const neg = tf.add(lin.apply(ap, 'neg'), lin.apply(an, 'pos'));
  // Biases take no share (iNNvestigate's "IgnoreBias"): with batch norm folded in, b⁺ would absorb a
  // part of the relevance at every layer, next to nothing left after MobileNet's 27.
  let surrogate = tf.mul(
    pos,
    frozen((zz, d) => tf.mul(safeRatio(zz, d), alpha), z, pos),
  );
  if (beta !== 0)
    surrogate = tf.sub(
      surrogate,
      tf.mul(
        neg,
        frozen((zz, d) => tf.mul(safeRatio(zz, d), beta), z, neg),
      ),
    );
  return withGradientOf(z, surrogate);
}

/** An activation that passes relevance unchanged: y in the forward pass, gradient y/z. */
function passRelevance(f: (z: tf.Tensor) => tf.Tensor, z: tf.Tensor): tf.Tensor {
  const y = f(z);
  return withGradientOf(y, tf.mul(z, frozen(safeRatio, y, z)));
}

const inboundLayers = (layer: AnyLayer): AnyLayer[] =>
  (layer.inboundNodes ?? []).flatMap((n: { inboundLayers: AnyLayer[] }) => n.inboundLayers);

/** Whether no linear layer lies between the model input and this layer. */
function readsInput(layer: AnyLayer, seen = new Set<AnyLayer>()): boolean {
  for (const l of inboundLayers(layer)) {
    if (seen.has(l)) continue;
    seen.add(l);
    if (LINEAR.has(l.getClassName()) || !readsInput(l, seen)) return false;
  }
  return true;
}

/** EpsilonPlus's choice for a layer: αβ on convolutions over a spatial map, ε on dense-like layers. */
function plusRule(layer: AnyLayer): 'alpha-beta' | 'epsilon' {
  const shapes = layer.inboundNodes?.[0]?.inputShapes as (number | null)[][] | (number | null)[] | undefined;
  const shape = Array.isArray(shapes?.[0]) ? (shapes[0] as (number | null)[]) : (shapes as (number | null)[]);
  const spatial = Array.isArray(shape) && shape.length === 4 && ((shape[1] ?? 2) > 1 || (shape[2] ?? 2) > 1);
  return layer.getClassName() !== 'Dense' && spatial ? 'alpha-beta' : 'epsilon';
}

/** A batch norm right after a linear layer with no activation, and that layer's only consumer. */
function foldable(bn: AnyLayer): AnyLayer | undefined {
  const prev = inboundLayers(bn);
  if (prev.length !== 1) return undefined;
  const p = prev[0];
  const ok =
    ['Conv2D', 'DepthwiseConv2D', 'Dense'].includes(p.getClassName()) &&
    (activationName(p) ?? 'linear') === 'linear' &&
    (p.outboundNodes?.length ?? 0) === 1 &&
    (bn.axis === -1 || bn.axis === 3);
  return ok ? p : undefined;
}

function activationRule(layer: AnyLayer, name: string): (z: tf.Tensor) => tf.Tensor {
  if (!RELU_LIKE.has(name))
    throw new Error(
      `LRP has no rule for the '${name}' activation of layer '${layer.name}' (${layer.getClassName()}); it handles relu, relu6, elu and linear`,
    );
  if (name === 'linear') return (z) => z;
  const act = layer.activation;
  return (z) => passRelevance((t) => act.apply(t), z);
}

/** The patches that make a model's score network propagate relevance; one line naming any layer it cannot handle. */
export function lrpPatches(model: tf.LayersModel, s: LrpSettings): LayerPatch[] {
  const layers = scoreLayers(model);
  const folded = new Map<AnyLayer, AnyLayer>(); // linear layer → the batch norm folded into it
  for (const l of layers)
    if (l.getClassName() === 'BatchNormalization') {
      const p = foldable(l);
      if (p) folded.set(p, l);
    }
  const foldedBns = new Set(folded.values());
  const patches: LayerPatch[] = [];
  for (const layer of layers) {
    const cls = layer.getClassName();
    if (PASS.has(cls)) continue;
    if (cls === 'ReLU' || cls === 'LeakyReLU' || cls === 'ELU') {
      const call = layer.call.bind(layer);
      patches.push({
        layer,
        call: (inputs, kwargs) => passRelevance((t) => call(t, kwargs) as tf.Tensor, firstInput(inputs)),
      });
      continue;
    }
    if (cls === 'Activation') {
      const rule = activationRule(layer, activationName(layer) ?? 'linear');
      patches.push({ layer, call: (inputs) => rule(firstInput(inputs)) });
      continue;
    }
    if (!LINEAR.has(cls))
      throw new Error(`LRP cannot handle layer '${layer.name}' (class ${cls}); it supports ${SUPPORTED}`);
    if (foldedBns.has(layer)) {
      patches.push({ layer, call: (inputs) => firstInput(inputs).clone() });
      continue;
    }
    // A score head's pre-activation view calls its inner layer with a linear activation: patch the inner one.
    const target: AnyLayer = cls === 'ConvlensPreActivation' ? layer.inner : layer;
    const first = readsInput(target);
    // Average pooling has only positive weights: αβ would multiply its relevance by α, so it keeps ε.
    const own = cls.includes('AveragePooling')
      ? 'epsilon'
      : s.rule === 'epsilon-plus'
        ? plusRule(target)
        : s.rule;
    const rule = first ? (s.first === 'same' ? own : s.first) : own;
    const bn = folded.get(target);
    patches.push({
      layer: target,
      call: (inputs) => {
        const a = firstInput(inputs);
        const lin = linearOf(target, bn);
        // The first layer hands relevance itself to the input (w² needs no input to multiply).
        const z = applyRule(lin, first && rule !== 'w2' ? relevanceInput(a) : a, rule, s);
        const name = activationName(target) ?? 'linear';
        return name === 'linear' ? z : activationRule(target, name)(z);
      },
    });
  }
  return patches;
}
