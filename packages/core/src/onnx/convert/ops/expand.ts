import { identity } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import { dimsOf } from '../values.ts';
import { reshapeTo } from './_shared.ts';

registerOnnxOp('Expand', (c) => {
  let x = c.input(0);
  const shape = c.ints(1, 'shape');
  const d0 = dimsOf(x);
  const rank = Math.max(d0.length, shape.length);
  if (d0.length < rank) x = reshapeTo(c, x, [...new Array(rank - d0.length).fill(1), ...d0]);
  const dims = dimsOf(x);
  const s = [...new Array(rank - shape.length).fill(1), ...shape];
  const out = dims.map((d, i) => (d === 1 ? s[i] : d));
  const perm = x.kind === 'sym' && !x.order ? x.perm : identity(rank);
  const type = x.kind === 'const' ? x.tensor.type : x.type;
  return c.op('expand', { shape: perm.map((a) => out[a]) }, [{ v: x, perm }], [{ perm, type }]);
});
