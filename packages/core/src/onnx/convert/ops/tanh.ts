import * as tf from '@tensorflow/tfjs';
import { registerOnnxOp } from '../registry.ts';
import { unary } from './_shared.ts';

registerOnnxOp('Tanh', (c) =>
  unary(c, 'tanh', {}, () => tf.layers.activation({ activation: 'tanh', name: c.layerName() })),
);
