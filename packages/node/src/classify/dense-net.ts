/**
 * Small dense classifiers on feature rows in tfjs: softmax regression (no hidden layer: multinomial
 * logistic regression with an L2 penalty) and a one-hidden-layer MLP. A plain seeded training loop
 * (optimizer.minimize over pre-shuffled batches), not model.fit, so a seed gives the same weights
 * and there is no per-batch callback overhead.
 */
import { createRng, shuffleInPlace } from '@convlens/core/data/rng';
import { tf } from '@convlens/core/engine/backend';

export interface DenseSpec {
  /** Hidden layer widths ([] = softmax regression). */
  hidden: number[];
  epochs: number;
  /** Rows per step (Infinity: full batch). */
  batchSize: number;
  learningRate: number;
  /** L2 penalty on the weight matrices (sum of squares × l2). */
  l2: number;
}

export interface DenseState {
  spec: DenseSpec;
  /** Per layer: W (in×out, row-major) and b. */
  layers: { inputs: number; outputs: number; w: number[]; b: number[] }[];
}

export interface DenseNet {
  predict(x: number[][]): number[];
  state(): DenseState;
  dispose(): void;
}

function build(state: DenseState) {
  // tf.variable keeps its own reference: the initial tensors are freed by the tidy.
  return state.layers.map((l) =>
    tf.tidy(() => ({
      w: tf.variable(tf.tensor2d(l.w, [l.inputs, l.outputs])),
      b: tf.variable(tf.tensor1d(l.b)),
    })),
  );
}

function forward(vars: { w: tf.Variable; b: tf.Variable }[], x: tf.Tensor2D): tf.Tensor2D {
  let h = x;
  vars.forEach((v, i) => {
    h = tf.add(tf.matMul(h, v.w), v.b);
    if (i < vars.length - 1) h = tf.relu(h);
  });
  return h;
}

function wrap(vars: { w: tf.Variable; b: tf.Variable }[], spec: DenseSpec): DenseNet {
  return {
    predict(x) {
      if (x.length === 0) return [];
      const t = tf.tidy(() => tf.argMax(forward(vars, tf.tensor2d(x)), 1));
      const out = Array.from(t.dataSync());
      t.dispose();
      return out;
    },
    state: () => ({
      spec,
      layers: vars.map((v) => ({
        inputs: v.w.shape[0],
        outputs: Number(v.w.shape[1]),
        w: Array.from(v.w.dataSync()),
        b: Array.from(v.b.dataSync()),
      })),
    }),
    dispose: () => {
      for (const v of vars) {
        v.w.dispose();
        v.b.dispose();
      }
    },
  };
}

/** Glorot-uniform weights from a seeded generator, zero biases. */
function initState(f: number, k: number, spec: DenseSpec, seed: number): DenseState {
  const rng = createRng(seed);
  const sizes = [f, ...spec.hidden, k];
  return {
    spec,
    layers: sizes.slice(1).map((outputs, i) => {
      const inputs = sizes[i];
      const limit = Math.sqrt(6 / (inputs + outputs));
      return {
        inputs,
        outputs,
        w: Array.from({ length: inputs * outputs }, () => (rng() * 2 - 1) * limit),
        b: new Array(outputs).fill(0),
      };
    }),
  };
}

export async function fitDense(
  x: number[][],
  y: number[],
  k: number,
  spec: DenseSpec,
  seed: number,
): Promise<DenseNet> {
  const f = x[0]?.length ?? 0;
  const vars = build(initState(f, k, spec, seed));
  const rng = createRng(seed + 1);
  const optimizer = tf.train.adam(spec.learningRate);
  const order = Array.from({ length: x.length }, (_, i) => i);
  const xs = tf.tensor2d(x);
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(y, 'int32'), k).toFloat());
  const bs = Math.min(spec.batchSize, x.length);
  try {
    for (let e = 0; e < spec.epochs; e++) {
      shuffleInPlace(order, rng);
      for (let s = 0; s < order.length; s += bs) {
        const idx = tf.tensor1d(order.slice(s, s + bs), 'int32');
        const cost = optimizer.minimize(() => {
          const xb = tf.gather(xs, idx) as tf.Tensor2D;
          const yb = tf.gather(ys, idx);
          const loss = tf.losses.softmaxCrossEntropy(yb, forward(vars, xb));
          const penalty = vars.reduce((p, v) => tf.add(p, tf.sum(tf.square(v.w))), tf.scalar(0));
          return tf.add(loss, tf.mul(penalty, spec.l2)) as tf.Scalar;
        }, true);
        cost?.dispose();
        idx.dispose();
      }
      // Yield now and then so a progress bar and Ctrl-C stay responsive.
      if (e % 10 === 9) await new Promise((r) => setImmediate(r));
    }
  } finally {
    xs.dispose();
    ys.dispose();
    optimizer.dispose();
  }
  return wrap(vars, spec);
}

export function loadDense(state: DenseState): DenseNet {
  return wrap(build(state), state.spec);
}
