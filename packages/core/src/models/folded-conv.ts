/**
 * One layer standing for a chain conv → batch norm → relu/relu6 (or conv → batch norm, conv → relu,
 * or a conv alone) at inference: the batch norm folded into the conv's weights and bias, the activation
 * a post-op of the conv kernel (oneDNN applies it in the same pass), as PyTorch's freeze and oneDNN's
 * graph fusion do. Its gradient with respect to the input is the activation mask times the conv's
 * input gradient with the folded filter: no batch-norm or activation kernels in either direction.
 *
 * The chain's own layers stay the truth. Whenever folding could change what is computed, the layer
 * runs them one after the other instead: in training mode (batch statistics), while any of them is
 * patched (a method capturing or editing a layer's output, guided backprop's relu rule), and while
 * a gradient is being taken with respect to one of their weights. Folded weights stay in the
 * backend between calls without being live tensors (engine/resident-tensor.ts: no upload per call,
 * no tensor left behind), are freed with the conv layer (model.dispose), and are re-folded when a
 * weight variable changes (an optimizer's assign gives it new data).
 */
import * as tf from '@tensorflow/tfjs';
import { isGradientSource } from '../engine/input-only-grads.ts';
import { ACTIVATION_GRAD, activationCap } from '../engine/kernels/activation-grad.ts';
import { ResidentTensor } from '../engine/resident-tensor.ts';
import type { AnyLayer } from './graph-nodes.ts';

export type FoldActivation = 'linear' | 'relu' | 'relu6';

/**
 * A foldable chain: the conv, its batch norm (if any), its activation layer (if any). A conv alone
 * still gains: its input gradient skips the filter and bias gradients tfjs's fused conv forms.
 */
export interface ConvChain {
  conv: AnyLayer;
  bn?: AnyLayer;
  act?: AnyLayer;
  activation: FoldActivation;
}

const CONVS = new Set(['Conv2D', 'DepthwiseConv2D']);

const ones = (v: number | number[] | undefined) =>
  Array.isArray(v) ? v.every((d) => d === 1) : v == null || v === 1;

/**
 * Whether a conv layer can head a folded chain (NHWC, undilated, built), and the activation it
 * applies itself: 'linear' (a batch norm and an activation layer may follow), relu or relu6 (the
 * chain is the conv alone, its activation a post-op). null when it cannot.
 */
export function foldableConv(l: AnyLayer): FoldActivation | null {
  if (!CONVS.has(l.getClassName()) || !l.built) return null;
  if (l.dataFormat !== 'channelsLast' || !ones(l.dilationRate)) return null;
  if (l.padding !== 'same' && l.padding !== 'valid') return null;
  const act = l.activation?.getClassName?.();
  return act === 'linear' || act === 'relu' || act === 'relu6' ? act : null;
}

/** Whether a batch norm layer normalizes the last axis of a rank-4 tensor. */
export function foldableBatchNorm(l: AnyLayer): boolean {
  return l.getClassName() === 'BatchNormalization' && l.built && (l.axis === -1 || l.axis === 3);
}

/** The activation a layer applies if it is a plain relu or relu6 layer, else null. */
export function foldableActivation(l: AnyLayer): FoldActivation | null {
  const cls = l.getClassName();
  if (cls === 'ReLU') return l.maxValue == null ? 'relu' : l.maxValue === 6 ? 'relu6' : null;
  if (cls === 'Activation') {
    const name = l.activation?.getClassName?.();
    return name === 'relu' || name === 'relu6' ? name : null;
  }
  return null;
}

interface Folded {
  filter: ResidentTensor;
  bias: ResidentTensor;
  /** dataIds of the source variables the fold was computed from. */
  sources: unknown[];
}

const protoCall = (l: AnyLayer) => Object.getPrototypeOf(l).call;

export class FoldedConv extends tf.layers.Layer {
  static className = 'ConvlensFoldedConv';
  private readonly layers: AnyLayer[];
  private readonly activations: unknown[];
  /** The chain's weights: conv kernel and bias, then gamma, beta, moving mean and variance. */
  private readonly sources: tf.LayerVariable[];
  private readonly geometry: ConvGeometry;
  private folded: Folded | null = null;

  constructor(private readonly chain: ConvChain) {
    super({ name: (chain.act ?? chain.bn ?? chain.conv).name, trainable: false });
    const { conv, bn } = chain;
    this.layers = [conv, bn, chain.act].filter((l): l is AnyLayer => !!l);
    this.activations = this.layers.map((l) => l.activation);
    const depthwise = conv.getClassName() === 'DepthwiseConv2D';
    this.sources = [
      depthwise ? conv.depthwiseKernel : conv.kernel,
      conv.bias,
      bn?.gamma,
      bn?.beta,
      bn?.movingMean,
      bn?.movingVariance,
    ].filter((v) => v != null);
    this.geometry = {
      depthwise,
      strides: conv.strides as [number, number],
      pad: conv.padding as 'same' | 'valid',
      activation: chain.activation,
    };
    this.built = true;
    // model.dispose() disposes the conv layer: the folded copy of its weights goes with it.
    const dispose = conv.dispose.bind(conv);
    conv.dispose = () => {
      this.release();
      return dispose();
    };
  }

  override computeOutputShape(shape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return this.layers.reduce((s, l) => l.computeOutputShape(s), shape);
  }

  /** Frees the folded weights' backend memory (also when the conv layer is disposed). */
  release(): void {
    this.folded?.filter.free();
    this.folded?.bias.free();
    this.folded = null;
  }

  /** Folding is exact for this call: inference, nothing patched, no weight differentiated. */
  private canFold(kwargs: Record<string, unknown>): boolean {
    if (kwargs?.training) return false;
    for (const [i, l] of this.layers.entries()) {
      if (l.call !== protoCall(l) || l.activation !== this.activations[i]) return false;
    }
    for (const v of this.sources) if (isGradientSource(v.read() as tf.Variable)) return false;
    return true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    if (!this.canFold(kwargs))
      return this.layers.reduce<tf.Tensor | tf.Tensor[]>((x, l) => l.call(x, kwargs), inputs);
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    const { conv, bn } = this.chain;
    if (!bn && conv.bias) {
      // Nothing to fold: the conv's own weights, without a copy (the activation still fuses).
      const filter = this.sources[0].read() as tf.Tensor4D;
      return foldedConvOp(x, filter, conv.bias.read() as tf.Tensor1D, this.geometry);
    }
    const f = this.fold();
    const filter = f.filter.tensor() as tf.Tensor4D;
    const bias = f.bias.tensor() as tf.Tensor1D;
    try {
      return foldedConvOp(x, filter, bias, this.geometry);
    } finally {
      // The gradient keeps its own reference (saved by the op).
      filter.dispose();
      bias.dispose();
    }
  }

  /** The folded filter and bias, recomputed when a source variable has new data. */
  private fold(): Folded {
    const ids = this.sources.map((v) => (v.read() as unknown as { dataId: unknown }).dataId);
    if (this.folded && ids.every((id, i) => id === this.folded?.sources[i])) return this.folded;
    const { conv, bn } = this.chain;
    const kernel = this.sources[0].read() as tf.Tensor4D;
    const [, , ci, last] = kernel.shape;
    const co = this.geometry.depthwise ? ci * last : last;
    const w = kernel.dataSync() as Float32Array;
    const b0 = conv.bias ? (conv.bias.read().dataSync() as Float32Array) : new Float32Array(co);
    const scale = new Float32Array(co).fill(1);
    const shift = Float32Array.from(b0);
    if (bn) {
      const g = bn.gamma ? (bn.gamma.read().dataSync() as Float32Array) : null;
      const beta = bn.beta ? (bn.beta.read().dataSync() as Float32Array) : null;
      const mean = bn.movingMean.read().dataSync() as Float32Array;
      const variance = bn.movingVariance.read().dataSync() as Float32Array;
      for (let o = 0; o < co; o++) {
        scale[o] = (g ? g[o] : 1) / Math.sqrt(variance[o] + bn.epsilon);
        shift[o] = (b0[o] - mean[o]) * scale[o] + (beta ? beta[o] : 0);
      }
    }
    // The filter's last axis is the output channel (conv) or the multiplier within an input
    // channel (depthwise: output channel = input channel · multiplier + m): both are the flat index mod co.
    const fw = new Float32Array(w.length);
    for (let i = 0; i < w.length; i++) fw[i] = w[i] * scale[i % co];
    this.release();
    this.folded = {
      filter: new ResidentTensor(fw, kernel.shape),
      bias: new ResidentTensor(shift, [co]),
      sources: ids,
    };
    return this.folded;
  }
}

export interface ConvGeometry {
  depthwise: boolean;
  strides: [number, number];
  pad: 'same' | 'valid';
  activation: FoldActivation;
}

/** dy masked to where the activation passes gradient (y strictly inside its linear range). */
export function activationGradient(dy: tf.Tensor, y: tf.Tensor, activation: FoldActivation): tf.Tensor {
  if (activation === 'linear') return dy;
  const cap = activationCap(activation);
  if (tf.getBackend() === 'wasm' && tf.getKernel(ACTIVATION_GRAD, 'wasm'))
    return tf.engine().runKernel(ACTIVATION_GRAD, { dy, y }, { cap }) as tf.Tensor;
  // 0 < y < cap ⇔ y·(cap − y) > 0 (relu: y > 0).
  const inside = activation === 'relu' ? tf.step(y) : tf.step(tf.mul(y, tf.sub(cap, y)));
  return tf.mul(dy, inside);
}

/** The fused conv with folded weights, differentiable with respect to its input only. */
export function foldedConvOp(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor1D,
  g: ConvGeometry,
): tf.Tensor4D {
  // The kernel itself: tf.fused.* would split into conv + add + activation inside a gradient scope.
  const forward = (input: tf.Tensor4D) =>
    tf.engine().runKernel(
      g.depthwise ? tf.FusedDepthwiseConv2D : tf.FusedConv2D,
      { x: input, filter, bias },
      {
        strides: g.strides,
        pad: g.pad,
        dataFormat: 'NHWC',
        dilations: [1, 1],
        activation: g.activation,
        leakyreluAlpha: 0,
      },
    ) as tf.Tensor4D;
  // Nothing records a gradient (inference, or the part of a pass before a CAM's layer): no wrapper.
  if (!(tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn()) return forward(x);
  const op = tf.customGrad(((input: tf.Tensor4D, save: tf.GradSaveFunc) => {
    const y = forward(input);
    save([y, filter]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [out, f] = saved as [tf.Tensor4D, tf.Tensor4D];
        const d = activationGradient(dy, out, g.activation);
        const attrs = { strides: g.strides, pad: g.pad, inputShape: input.shape };
        return tf
          .engine()
          .runKernel(
            g.depthwise ? tf.DepthwiseConv2dNativeBackpropInput : tf.Conv2DBackpropInput,
            { dy: d, filter: f },
            g.depthwise ? { ...attrs, dilations: [1, 1] } : { ...attrs, dataFormat: 'NHWC' },
          ) as tf.Tensor4D;
      },
    };
  }) as any) as (x: tf.Tensor4D) => tf.Tensor4D;
  return op(x);
}
