import * as tf from '@tensorflow/tfjs';
import { registerOnnxOp } from '../registry.ts';
import { unary } from './_shared.ts';

registerOnnxOp('HardSigmoid', (c) => {
  const alpha = c.float('alpha', 0.2);
  const beta = c.float('beta', 0.5);
  // Keras's hard_sigmoid is exactly ONNX's default (0.2x + 0.5, clipped); torch exports alpha 1/6.
  const keras =
    Math.abs(alpha - 0.2) < 1e-7 && beta === 0.5
      ? () => tf.layers.activation({ activation: 'hardSigmoid', name: c.layerName() })
      : undefined;
  return unary(c, 'hardSigmoid', { alpha, beta }, keras);
});
