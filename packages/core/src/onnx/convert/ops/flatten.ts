import { registerOnnxOp } from '../registry.ts';
import { dimsOf } from '../values.ts';
import { normAxis, reshapeTo } from './_shared.ts';

registerOnnxOp('Flatten', (c) => {
  const x = c.input(0);
  const dims = dimsOf(x);
  const axis = normAxis(c.int('axis', 1), dims.length);
  const p = (d: number[]) => d.reduce((a, b) => a * b, 1);
  return [reshapeTo(c, x, [p(dims.slice(0, axis)), p(dims.slice(axis))])];
});
