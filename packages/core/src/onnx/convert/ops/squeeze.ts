import { registerOnnxOp } from '../registry.ts';
import { dimsOf } from '../values.ts';
import { normAxis, reshapeTo } from './_shared.ts';

registerOnnxOp('Squeeze', (c) => {
  const x = c.input(0);
  const dims = dimsOf(x);
  // Opset 13 moved axes from an attribute to an optional input.
  const given = c.opset >= 13 ? (c.has(1) ? c.ints(1, 'axes') : undefined) : c.intList('axes');
  const axes = (given ?? dims.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((a) =>
    normAxis(a, dims.length),
  );
  return [
    reshapeTo(
      c,
      x,
      dims.filter((_, i) => !axes.includes(i)),
    ),
  ];
});

registerOnnxOp('Unsqueeze', (c) => {
  const x = c.input(0);
  const dims = dimsOf(x);
  const given = c.opset >= 13 ? c.ints(1, 'axes') : (c.intList('axes') ?? []);
  const rank = dims.length + given.length;
  const axes = given.map((a) => normAxis(a, rank));
  const to: number[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) to.push(axes.includes(i) ? 1 : dims[k++]);
  return [reshapeTo(c, x, to)];
});
