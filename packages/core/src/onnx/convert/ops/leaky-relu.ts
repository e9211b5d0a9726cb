import * as tf from '@tensorflow/tfjs';
import { registerOnnxOp } from '../registry.ts';
import { unary } from './_shared.ts';

registerOnnxOp('LeakyRelu', (c) => {
  const alpha = c.float('alpha', 0.01);
  return unary(c, 'leaky', { alpha }, () => tf.layers.leakyReLU({ alpha, name: c.layerName() }));
});
