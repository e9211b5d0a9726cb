import * as tf from '@tensorflow/tfjs';
import { registerOnnxOp } from '../registry.ts';
import { unary } from './_shared.ts';

registerOnnxOp('Sigmoid', (c) =>
  unary(c, 'sigmoid', {}, () => tf.layers.activation({ activation: 'sigmoid', name: c.layerName() })),
);
