import * as tf from '@tensorflow/tfjs';
import { registerOnnxOp } from '../registry.ts';
import { unary } from './_shared.ts';

registerOnnxOp('Relu', (c) =>
  unary(c, 'relu', {}, () => tf.layers.activation({ activation: 'relu', name: c.layerName() })),
);
