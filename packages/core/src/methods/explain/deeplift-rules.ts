/**
 * DeepLIFT's rescale rule (Shrikumar et al. 2017) as Captum implements it: the input and its
 * reference go through the network as one batch [x; x₀]; every nonlinearity passes down the
 * multiplier Δy/Δx (its derivative where Δx ≈ 0) instead of its gradient, max pooling splits Δy
 * between the input's and the reference's winners, and linear layers pass multipliers as gradients.
 * The input multiplier times (x − x₀) then sums exactly to f(x) − f(x₀) (summation-to-delta).
 */
import * as tf from '@tensorflow/tfjs';
import {
  type AnyLayer,
  activationName,
  activationOf,
  firstInput,
  type LayerPatch,
  scoreLayers,
} from './layer-patch.ts';

/** Layers that are linear at inference (or move values without arithmetic): gradients are multipliers. */
const LINEAR = new Set([
  'InputLayer',
  'Conv1D',
  'Conv2D',
  'Conv2DTranspose',
  'DepthwiseConv2D',
  'SeparableConv2D',
  'Dense',
  'BatchNormalization',
  'AveragePooling1D',
  'AveragePooling2D',
  'GlobalAveragePooling1D',
  'GlobalAveragePooling2D',
  'Flatten',
  'Reshape',
  'Permute',
  'RepeatVector',
  'Dropout',
  'SpatialDropout1D',
  'SpatialDropout2D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'ZeroPadding2D',
  'Cropping2D',
  'UpSampling2D',
  'Add',
  'Subtract',
  'Average',
  'Concatenate',
  'Activation',
  'ConvlensPreActivation',
]);

/** Element-wise nonlinear layers: rescaled around their own `call`. */
const ELEMENTWISE = new Set(['ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU', 'PReLU']);

/** Activations that mix the elements of a row: no per-element multiplier. */
const NOT_ELEMENTWISE = new Set(['softmax', 'logSoftmax']);

/** Δy/Δx of an element-wise f on the batch [x; x₀]; where |Δx| < eps, f′(x) (closed form for ReLUs, else central differences). */
function rescaled(f: (t: tf.Tensor) => tf.Tensor, name: string, eps: number): (t: tf.Tensor) => tf.Tensor {
  const derivative = (x: tf.Tensor) => {
    if (name === 'relu') return tf.cast(tf.greater(x, 0), 'float32');
    if (name === 'relu6') return tf.cast(tf.logicalAnd(tf.greater(x, 0), tf.less(x, 6)), 'float32');
    const h = 1e-3;
    return tf.div(tf.sub(f(tf.add(x, h)), f(tf.sub(x, h))), 2 * h);
  };
  return tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
    const y = f(x);
    save([x, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [xa, xr] = tf.split(saved[0], 2, 0);
          const [ya, yr] = tf.split(saved[1], 2, 0);
          const [dya] = tf.split(dy, 2, 0);
          const dx = tf.sub(xa, xr);
          const near = tf.less(tf.abs(dx), eps);
          const m = tf.where(
            near,
            derivative(xa),
            tf.div(tf.sub(ya, yr), tf.where(near, tf.onesLike(dx), dx)),
          );
          // Only the input half's score is differentiated: the reference half gets no multiplier.
          return tf.concat([tf.mul(dya, m), tf.zerosLike(dya)], 0);
        }),
    };
  }) as any) as (t: tf.Tensor) => tf.Tensor;
}

interface PoolShape {
  filterSize: [number, number];
  strides: [number, number];
  pad: 'valid' | 'same';
}

/** Where max pooling of `input` (with its `output`) sends `dy`: each window's value to its winner. */
function routeToMax(dy: tf.Tensor, input: tf.Tensor, output: tf.Tensor, p: PoolShape): tf.Tensor {
  return tf.engine().runKernel('MaxPoolGrad', { dy, input, output }, {
    ...p,
    dimRoundingMode: undefined,
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/**
 * Max pooling on [x; x₀] with Captum's DeepLIFT multipliers: per window Δy = max(y, y₀) − y₀ routed
 * to the input's winner plus y − max(y, y₀) routed to the reference's winner, divided by Δx there.
 */
function rescaledMaxPool(p: PoolShape, eps: number): (x: tf.Tensor4D) => tf.Tensor4D {
  return tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
    const y = tf.maxPool(x as tf.Tensor4D, p.filterSize, p.strides, p.pad);
    save([x, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [xa, xr] = tf.split(saved[0], 2, 0);
          const [ya, yr] = tf.split(saved[1], 2, 0);
          const [dya] = tf.split(dy, 2, 0);
          const top = tf.maximum(ya, yr);
          const viaInput = routeToMax(tf.mul(dya, tf.sub(top, yr)), xa, ya, p);
          const viaRef = routeToMax(tf.mul(dya, tf.sub(ya, top)), xr, yr, p);
          const dx = tf.sub(xa, xr);
          const near = tf.less(tf.abs(dx), eps);
          const m = tf.where(
            near,
            routeToMax(dya, xa, ya, p),
            tf.div(tf.add(viaInput, viaRef), tf.where(near, tf.onesLike(dx), dx)),
          );
          return tf.concat([m, tf.zerosLike(m)], 0);
        }),
    };
  }) as any) as (x: tf.Tensor4D) => tf.Tensor4D;
}

/** 'relu' or 'relu6' for a ReLU layer of that kind (closed-form derivative), else undefined. */
function reluName(layer: AnyLayer): string | undefined {
  if (layer.getClassName() !== 'ReLU') return undefined;
  if (layer.maxValue == null) return 'relu';
  return layer.maxValue === 6 ? 'relu6' : undefined;
}

const pair = (v: number | number[]): [number, number] => (Array.isArray(v) ? [v[0], v[1] ?? v[0]] : [v, v]);

function channelsLast(layer: AnyLayer): void {
  if (layer.dataFormat && layer.dataFormat !== 'channelsLast')
    throw new Error(
      `DeepLIFT: layer '${layer.name}' (${layer.getClassName()}) is channels-first; only channels-last is supported`,
    );
}

/** The patches that make a model's score network backpropagate DeepLIFT multipliers; one line naming any layer it cannot handle. */
export function deepliftPatches(model: tf.LayersModel, eps: number): LayerPatch[] {
  const patches: LayerPatch[] = [];
  for (const layer of scoreLayers(model)) {
    const cls = layer.getClassName();
    const act = activationName(layer);
    if (act && act !== 'linear') {
      if (NOT_ELEMENTWISE.has(act))
        throw new Error(
          `DeepLIFT: the ${act} of layer '${layer.name}' (${cls}) is not element-wise; it can only end the network (after the logits)`,
        );
      const orig = layer.activation;
      patches.push({
        layer,
        activation: activationOf(
          `deeplift-${act}`,
          rescaled((t) => orig.apply(t), act, eps),
        ),
      });
    }
    if (cls === 'MaxPooling2D' || cls === 'GlobalMaxPooling2D') {
      channelsLast(layer);
      patches.push({
        layer,
        call: (inputs) => {
          const x = firstInput(inputs) as tf.Tensor4D;
          if (cls === 'GlobalMaxPooling2D') {
            const [, h, w, c] = x.shape;
            const p: PoolShape = { filterSize: [h, w], strides: [h, w], pad: 'valid' };
            return tf.reshape(rescaledMaxPool(p, eps)(x), [x.shape[0], c]);
          }
          const p: PoolShape = {
            filterSize: pair(layer.poolSize),
            strides: pair(layer.strides ?? layer.poolSize),
            pad: layer.padding,
          };
          return rescaledMaxPool(p, eps)(x);
        },
      });
    } else if (ELEMENTWISE.has(cls)) {
      const call = layer.call.bind(layer);
      patches.push({
        layer,
        call: (inputs, kwargs) =>
          rescaled((t) => call(t, kwargs) as tf.Tensor, reluName(layer) ?? cls, eps)(firstInput(inputs)),
      });
    } else if (!LINEAR.has(cls)) {
      throw new Error(
        `DeepLIFT cannot handle layer '${layer.name}' (class ${cls}): it supports linear layers (conv, dense, batch norm, average pooling, reshapes, add, concatenate), element-wise activations and max pooling`,
      );
    }
  }
  return patches;
}
