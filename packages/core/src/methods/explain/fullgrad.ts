/**
 * FullGrad (Srinivas & Fleuret, NeurIPS 2019; pytorch-grad-cam's FullGrad): the full-gradient
 * decomposition of a ReLU network's score, f(x) = ∇ₓf·x + Σ_l ∇_{z_l}f·b_l, drawn: |∇ₓf ⊙ x| plus,
 * for every conv and batch-norm layer, |∇_{z_l}f ⊙ b_l| (z_l its pre-activation output, b_l its bias, or
 * a batch norm's effective bias β − μγ/√(σ²+ε)), each term min-max scaled, summed over channels,
 * upsampled and added.
 * Dense layers' bias terms have no spatial extent: they count in the completeness check only, whose
 * gap (score − all terms) is reported per input: ~0 for ReLU networks; ReLU6 (MobileNet) is not
 * homogeneous — a saturated unit outputs a constant 6 no bias term sees — so there the gap is real.
 */
import * as tf from '@tensorflow/tfjs';
import { scoreHead } from '../../models/logits.ts';
import { camMethod } from './cam-base.ts';
import { upsample } from './common.ts';

type AnyLayer = tf.layers.Layer & Record<string, any>;

const LINEAR = (tf.layers.activation({ activation: 'linear' }) as unknown as AnyLayer).activation;

/** The bias a layer adds to its output (batch norm: its effective bias), or undefined. */
function biasOf(layer: AnyLayer): tf.Tensor1D | undefined {
  const core: AnyLayer = layer.getClassName() === 'ConvlensPreActivation' ? layer.inner : layer;
  if (core.getClassName() === 'BatchNormalization') {
    const axis = core.axis;
    if (axis !== -1 && axis !== 3 && axis !== 1) return undefined;
    return tf.tidy(() => {
      const mean = core.movingMean.read() as tf.Tensor1D;
      const inv = tf.rsqrt(tf.add(core.movingVariance.read(), core.epsilon));
      const gamma = core.scale && core.gamma ? core.gamma.read() : tf.onesLike(mean);
      const beta = core.center && core.beta ? core.beta.read() : tf.zerosLike(mean);
      return tf.sub(beta, tf.mul(tf.mul(mean, gamma), inv)) as tf.Tensor1D;
    });
  }
  return core.useBias && core.bias ? (core.bias.read().clone() as tf.Tensor1D) : undefined;
}

/**
 * One term's post-processing as in the paper's code (fullgrad-saliency): each example's [h, w, C] term
 * min-max scaled to [0, 1] as a whole, then summed over channels: [N, h, w]. (pytorch-grad-cam scales
 * each channel separately, which lifts near-silent channels to the weight of the loud ones and
 * washes the map out to a near-constant.)
 */
function scaledChannelSum(t: tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => {
    const lo = tf.min(t, [1, 2, 3], true);
    const hi = tf.max(t, [1, 2, 3], true);
    return tf.sum(tf.div(tf.sub(t, lo), tf.add(tf.sub(hi, lo), 1e-7)), 3) as tf.Tensor3D;
  });
}

export const fullgrad = camMethod({
  id: 'fullgrad',
  title: 'FullGrad',
  description:
    'Input-gradient × input plus the bias-gradient terms of every conv and batch-norm layer, each scaled and summed at input resolution: uses the whole network, not one layer.',
  needsLayer: false,
  async compute({ model, input, targets }) {
    const net = scoreHead(model).net;
    const [n, H, W] = input.shape;
    const biased: { layer: AnyLayer; bias: tf.Tensor1D; shape: number[] }[] = [];
    for (const l of net.layers as AnyLayer[]) {
      const shape = l.outputShape as number[];
      if (l.inboundNodes?.length !== 1 || !Array.isArray(shape) || Array.isArray(shape[0])) continue;
      const bias = biasOf(l);
      if (bias) biased.push({ layer: l, bias, shape: [n, ...shape.slice(1)] });
    }
    const originals = biased.map((b) => b.layer.call);
    try {
      const [maps, total, score] = tf.tidy(() => {
        const mask = tf.oneHot(
          tf.tensor1d(targets, 'int32'),
          (net.outputs[0].shape as number[])[1] as number,
        );
        const deltas = biased.map((b) => tf.zeros(b.shape));
        let s: tf.Tensor = tf.zeros([n]);
        const f = (x: tf.Tensor, ...ds: tf.Tensor[]) => {
          biased.forEach((b, i) => {
            b.layer.call = function (this: AnyLayer, inputs, kwargs) {
              const act = this.activation;
              const fused = act && act !== LINEAR && act.getClassName() !== 'linear';
              if (fused) this.activation = LINEAR;
              let pre: tf.Tensor;
              try {
                pre = originals[i].call(this, inputs, kwargs) as tf.Tensor;
              } finally {
                if (fused) this.activation = act;
              }
              const z = tf.add(pre, ds[i]);
              return fused ? act.apply(z) : z;
            };
          });
          const sc = tf.sum(tf.mul(net.apply(x, { training: false }) as tf.Tensor2D, mask), 1);
          s = tf.keep(sc.clone());
          return tf.sum(sc);
        };
        const [gx, ...gs] = tf.grads(f)([input, ...deltas]);
        // Completeness: ∇ₓf·x + Σ_l ∇_{z_l}f·b_l per example (every layer, dense ones too).
        const reduce = (t: tf.Tensor) => tf.sum(tf.reshape(t, [n, -1]), 1);
        let sum = reduce(tf.mul(gx, input));
        let map = scaledChannelSum(tf.abs(tf.mul(gx, input)) as tf.Tensor4D);
        gs.forEach((g, i) => {
          const term = tf.mul(g, biased[i].bias);
          sum = tf.add(sum, reduce(term));
          if (term.rank === 4)
            map = tf.add(map, upsample(scaledChannelSum(tf.abs(term) as tf.Tensor4D), H, W));
        });
        // The terms' minima fall in different places, leaving an offset that carries nothing: drop it.
        return [tf.sub(map, tf.min(map, [1, 2], true)) as tf.Tensor3D, sum, s];
      });
      const [t, y] = [await total.data(), await score.data()];
      tf.dispose([total, score]);
      return {
        map: maps,
        meta: {
          biasLayers: biased.length,
          spatialBiasLayers: biased.filter((b) => b.shape.length === 4).length,
          completenessGap: Array.from(y, (v, i) => v - t[i]),
        },
      };
    } finally {
      biased.forEach((b, i) => {
        b.layer.call = originals[i];
      });
      tf.dispose(biased.map((b) => b.bias));
    }
  },
});
