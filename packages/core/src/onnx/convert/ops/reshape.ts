import { registerOnnxOp } from '../registry.ts';
import { dimsOf } from '../values.ts';
import { reshapeTo } from './_shared.ts';

registerOnnxOp('Reshape', (c) => {
  const x = c.input(0);
  const dims = dimsOf(x);
  const shape = c.opset >= 5 ? c.ints(1, 'shape') : (c.intList('shape') ?? []);
  const allowZero = c.int('allowzero', 0) === 1;
  const to = shape.map((d, i) => (d === 0 && !allowZero ? dims[i] : d));
  const known = to.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const total = dims.reduce((a, b) => a * b, 1);
  return [
    reshapeTo(
      c,
      x,
      to.map((d) => (d === -1 ? total / known : d)),
    ),
  ];
});
