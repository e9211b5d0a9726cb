import * as tf from '@tensorflow/tfjs';
import { registerOnnxOp } from '../registry.ts';
import { unary } from './_shared.ts';

registerOnnxOp('Clip', (c) => {
  // Opset 11 moved min/max from attributes to optional constant inputs.
  const bound = (i: number, attr: string, d: number) =>
    c.opset >= 11 ? (c.has(i) ? c.ints(i, attr)[0] : d) : c.float(attr, d);
  const min = bound(1, 'min', -Infinity);
  const max = bound(2, 'max', Infinity);
  if (min === -Infinity && max === Infinity) return [c.input(0)];
  if (min === 0 && max === Infinity)
    return unary(c, 'relu', {}, () => tf.layers.activation({ activation: 'relu', name: c.layerName() }));
  if (min === 0 && max === 6)
    return unary(c, 'clip', { min, max }, () => tf.layers.reLU({ maxValue: 6, name: c.layerName() }));
  const x = c.input(0);
  const isInt = (x.kind === 'const' ? x.tensor.type : x.type) !== 'float';
  const lim = isInt ? 2147483647 : 3.4e38;
  return unary(c, 'clip', { min: Math.max(min, -lim), max: Math.min(max, lim) });
});
