import { registerOnnxOp } from '../registry.ts';
import { constOf, dimsOf } from '../values.ts';

// Shapes are known at conversion (the batch at its conversion size), so Shape is a constant and the
// Shape → Gather → Concat → Reshape chains exporters emit fold away.
registerOnnxOp('Shape', (c) => {
  const dims = dimsOf(c.input(0));
  const r = dims.length;
  const clamp = (a: number) => Math.max(0, Math.min(r, a < 0 ? a + r : a));
  const out = dims.slice(clamp(c.int('start', 0)), clamp(c.int('end', r)));
  return [constOf(c.node.outputs[0], 'int64', [out.length], out)];
});

registerOnnxOp('Size', (c) => [
  constOf(c.node.outputs[0], 'int64', [], [dimsOf(c.input(0)).reduce((a, b) => a * b, 1)]),
]);
