import * as tf from '@tensorflow/tfjs';
import type { NodeCtx } from '../context.ts';
import { registerOnnxOp } from '../registry.ts';
import { dimsOf } from '../values.ts';
import { NHWC, need2d } from './_spatial.ts';

/** Global pooling as the Keras layer, then a Reshape back to ONNX's [N, C, 1, 1]. */
function globalPool(c: NodeCtx, type: 'avg' | 'max') {
  const x = c.input(0);
  const dims = dimsOf(x);
  need2d(c, dims.length);
  if (c.eager) c.fail('pooling a constant is not supported');
  const t = c.arg(x, NHWC);
  const make = type === 'avg' ? tf.layers.globalAveragePooling2d : tf.layers.globalMaxPooling2d;
  const pooled = c.keras(make({ name: c.layerName() }), [t]);
  const y = c.keras(tf.layers.reshape({ targetShape: [1, 1, dims[1]], name: c.layerName('keepdims') }), [
    pooled,
  ]);
  return [c.sym(y, NHWC, 'float')];
}

registerOnnxOp('GlobalAveragePool', (c) => globalPool(c, 'avg'));
registerOnnxOp('GlobalMaxPool', (c) => globalPool(c, 'max'));
