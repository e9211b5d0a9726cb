import type { ModelSpec } from './spec.ts';

/**
 * The built-in models. Each lists its body only: the builder appends `logits` (Dense, numClasses,
 * linear) and `probs` (softmax), so "dense10 softmax" in the classic descriptions is that head.
 */
export const ZOO = {
  /** The classic Keras MNIST CNN (mnist_cnn.py), the lab's model: 1,199,882 parameters on 28×28×1. */
  pw11: {
    name: 'pw11',
    description:
      'Keras MNIST CNN: conv32-conv64 (3x3 valid, relu), maxpool 2, dropout .25, dense128, dropout .5',
    layers: [
      { type: 'conv2d', filters: 32, kernel: 3, activation: 'relu' },
      { type: 'conv2d', filters: 64, kernel: 3, activation: 'relu' },
      { type: 'maxpool', pool: 2 },
      { type: 'dropout', rate: 0.25 },
      { type: 'flatten' },
      { type: 'dense', units: 128, activation: 'relu' },
      { type: 'dropout', rate: 0.5 },
    ],
  },
  /** Lecture CNN 1: two conv/pool stages (same padding, so small inputs still fit) and a dense layer. */
  cnn1: {
    name: 'cnn1',
    description: 'Lecture CNN: conv32-pool-conv64-pool (3x3 same, relu), dense128 relu',
    layers: [
      { type: 'conv2d', filters: 32, kernel: 3, padding: 'same', activation: 'relu' },
      { type: 'maxpool', pool: 2 },
      { type: 'conv2d', filters: 64, kernel: 3, padding: 'same', activation: 'relu' },
      { type: 'maxpool', pool: 2 },
      { type: 'flatten' },
      { type: 'dense', units: 128, activation: 'relu' },
    ],
  },
  /**
   * Lecture CNN 2: cnn1 with batch norm (conv → BN → ReLU; the conv drops its bias, BN's beta
   * replaces it) and dropout after each stage.
   */
  cnn2: {
    name: 'cnn2',
    description:
      'Lecture CNN with batch norm and dropout: (conv-bn-relu-pool-dropout)x2, dense128-bn-relu-dropout',
    layers: [
      { type: 'conv2d', filters: 32, kernel: 3, padding: 'same', useBias: false },
      { type: 'batchnorm' },
      { type: 'activation', activation: 'relu' },
      { type: 'maxpool', pool: 2 },
      { type: 'dropout', rate: 0.25 },
      { type: 'conv2d', filters: 64, kernel: 3, padding: 'same', useBias: false },
      { type: 'batchnorm' },
      { type: 'activation', activation: 'relu' },
      { type: 'maxpool', pool: 2 },
      { type: 'dropout', rate: 0.25 },
      { type: 'flatten' },
      { type: 'dense', units: 128 },
      { type: 'batchnorm' },
      { type: 'activation', activation: 'relu' },
      { type: 'dropout', rate: 0.5 },
    ],
  },
  /** The DeconvNet-project net (Zeiler & Fergus style projections): one max pool, so one set of switches. */
  'deconv-net': {
    name: 'deconv-net',
    description: 'DeconvNet project net: conv32-conv64 (3x3 valid, relu), maxpool 2, dense64, dense32',
    layers: [
      { type: 'conv2d', filters: 32, kernel: 3, activation: 'relu' },
      { type: 'conv2d', filters: 64, kernel: 3, activation: 'relu' },
      { type: 'maxpool', pool: 2 },
      { type: 'flatten' },
      { type: 'dense', units: 64, activation: 'relu' },
      { type: 'dense', units: 32, activation: 'relu' },
    ],
  },
} satisfies Record<string, ModelSpec>;

export type ZooName = keyof typeof ZOO;

export const MODEL_NAMES = Object.keys(ZOO) as ZooName[];

/** Returns a copy of a zoo spec (callers may edit it), or throws listing the known names. */
export function zooSpec(name: string): ModelSpec {
  if (!Object.hasOwn(ZOO, name)) {
    throw new Error(`unknown model '${name}' (known models: ${MODEL_NAMES.join(', ')})`);
  }
  return structuredClone(ZOO[name as ZooName]) as ModelSpec;
}
