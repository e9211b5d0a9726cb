/**
 * FusedBatchNorm's gradient with tfjs's formulas, each term computed only when asked for. tfjs's
 * own computes x − mean, dy·scale and a tile of 1/√(var+ε) to the input's full size before knowing
 * which terms are wanted; an input gradient (saliency, IG, CAMs through an inference-mode batch
 * norm) wants only dx = dy · scale/√(var+ε): one broadcast multiply instead of five full-size ops.
 * Training with batch moments asks for every term and gets tfjs's values. Terms are not shared
 * between thunks: each runs in its own tidy, which would dispose a shared one.
 */
import * as tf from '@tensorflow/tfjs';

export const batchNormGradConfig: tf.GradConfig = {
  kernelName: tf.FusedBatchNorm,
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const g = dy as tf.Tensor;
    const eps = (attrs as unknown as { varianceEpsilon: number }).varianceEpsilon;
    const [x, mean, variance, scale] = saved;
    const scaleValue = scale == null ? tf.scalar(1) : scale;
    const axes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
    const reduce = (t: tf.Tensor) => tf.reshape(mean.rank === 1 ? tf.sum(t, axes) : t, mean.shape);
    const rsqrt = () => tf.rsqrt(tf.add(variance, tf.scalar(eps)));
    const xMinusMean = () => tf.sub(x, mean);
    const dyTimesScale = () => tf.mul(g, scaleValue);
    return {
      // [C] statistics broadcast along the last axis, as tfjs's tile did.
      x: () => tf.reshape(tf.mul(g, tf.mul(rsqrt(), scaleValue)), x.shape),
      mean: () => reduce(tf.mul(tf.mul(rsqrt(), tf.scalar(-1)), dyTimesScale())),
      variance: () => {
        const r = rsqrt();
        const minusHalfRCube = tf.mul(tf.mul(tf.mul(r, r), r), tf.scalar(-0.5));
        return reduce(tf.mul(tf.mul(minusHalfRCube, xMinusMean()), dyTimesScale()));
      },
      scale: () => reduce(tf.mul(g, tf.mul(xMinusMean(), rsqrt()))),
      offset: () => reduce(g),
    };
  },
};

let registered = false;

/** Registers the gradient over tfjs's (idempotent; for every backend). */
export function registerBatchNormGrad(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient(batchNormGradConfig);
  // A batch norm without a scale (Keras scale=False) passes scale: undefined, and the engine clones
  // every input named in inputsToSave: its gradient crashed ("reading 'dataId'"), ours and tfjs's
  // alike. An explicit scale of ones computes the same and can be saved.
  const engine = tf.engine() as unknown as {
    runKernel: (name: string, inputs: Record<string, tf.Tensor | undefined>, attrs?: unknown) => unknown;
  };
  const runKernel = engine.runKernel.bind(engine);
  engine.runKernel = (name, inputs, attrs) => {
    if (name === tf.FusedBatchNorm && inputs.scale == null && inputs.mean) {
      const scale = tf.onesLike(inputs.mean);
      try {
        return runKernel(name, { ...inputs, scale }, attrs);
      } finally {
        scale.dispose();
      }
    }
    return runKernel(name, inputs, attrs);
  };
}
