import * as tf from '@tensorflow/tfjs';

export const OPTIMIZERS = ['sgd', 'rmsprop', 'adadelta', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

export interface OptimizerOptions {
  name: string;
  learningRate?: number;
  /** sgd: momentum (0 = plain SGD); rmsprop: momentum of the update (Keras's `momentum`). */
  momentum?: number;
  /** sgd only: Nesterov momentum (needs momentum > 0). */
  nesterov?: boolean;
  /** rmsprop: decay of the squared-gradient average; adadelta: decay of both averages. */
  rho?: number;
  epsilon?: number;
  beta1?: number;
  beta2?: number;
}

/** Every field filled in: what was actually used, for histories and checkpoints. */
export interface OptimizerConfig {
  name: OptimizerName;
  learningRate: number;
  momentum?: number;
  nesterov?: boolean;
  rho?: number;
  epsilon?: number;
  beta1?: number;
  beta2?: number;
}

/**
 * Keras defaults, except Adadelta's learning rate: Keras 2.3+ uses 0.001, which barely moves in a
 * lab's few epochs; 1.0 is the paper's (Zeiler 2012) and old Keras's value, used by mnist_cnn.py.
 */
const DEFAULTS: Record<OptimizerName, Omit<OptimizerConfig, 'name'>> = {
  sgd: { learningRate: 0.01, momentum: 0, nesterov: false },
  rmsprop: { learningRate: 0.001, rho: 0.9, momentum: 0, epsilon: 1e-7 },
  adadelta: { learningRate: 1.0, rho: 0.95, epsilon: 1e-7 },
  adam: { learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
};

/** Fills in defaults and checks values; throws listing the valid names for an unknown optimizer. */
export function resolveOptimizer(options: OptimizerOptions): OptimizerConfig {
  const name = String(options.name).toLowerCase() as OptimizerName;
  if (!OPTIMIZERS.includes(name)) {
    throw new Error(`unknown optimizer '${options.name}' (valid: ${OPTIMIZERS.join(', ')})`);
  }
  const defaults = DEFAULTS[name];
  const config: OptimizerConfig = { name, ...defaults };
  // Only the fields this optimizer uses are taken (and recorded).
  for (const key of Object.keys(defaults) as (keyof typeof defaults)[]) {
    const v = options[key];
    if (v !== undefined) (config as unknown as Record<string, unknown>)[key] = v;
  }
  check(config.learningRate > 0, `learning rate must be > 0, got ${config.learningRate}`);
  if (config.momentum !== undefined)
    check(config.momentum >= 0 && config.momentum < 1, 'momentum must be in [0, 1)');
  if (config.rho !== undefined) check(config.rho > 0 && config.rho < 1, 'rho must be in (0, 1)');
  if (config.epsilon !== undefined) check(config.epsilon > 0, 'epsilon must be > 0');
  for (const b of [config.beta1, config.beta2]) {
    if (b !== undefined) check(b >= 0 && b < 1, 'beta1 and beta2 must be in [0, 1)');
  }
  if (name === 'sgd' && config.nesterov) check((config.momentum ?? 0) > 0, 'nesterov needs momentum > 0');
  if (name !== 'sgd' && options.nesterov) throw new Error(`nesterov applies to sgd only, not ${name}`);
  return config;
}

/** Makes a tfjs optimizer; see resolveOptimizer for defaults. */
export function makeOptimizer(options: OptimizerOptions): tf.Optimizer {
  const c = resolveOptimizer(options);
  switch (c.name) {
    case 'sgd':
      return c.momentum
        ? tf.train.momentum(c.learningRate, c.momentum, c.nesterov)
        : tf.train.sgd(c.learningRate);
    case 'rmsprop':
      return tf.train.rmsprop(c.learningRate, c.rho, c.momentum, c.epsilon);
    case 'adadelta':
      return tf.train.adadelta(c.learningRate, c.rho, c.epsilon);
    case 'adam':
      return tf.train.adam(c.learningRate, c.beta1, c.beta2, c.epsilon);
  }
}

/** The learning rate a tfjs optimizer was made with (every built-in one reports it in getConfig). */
export function learningRateOf(optimizer: tf.Optimizer): number {
  const lr = optimizer.getConfig().learningRate;
  return typeof lr === 'number' ? lr : Number.NaN;
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}
