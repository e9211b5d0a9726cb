import { identity, tfAxis } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import { dimsOf } from '../values.ts';
import { liftConst, normAxis } from './_shared.ts';

// LayerNormalization (opset 17): normalize over axes [axis, rank), in the value's own layout.
registerOnnxOp('LayerNormalization', (c) => {
  const x = c.input(0);
  const rank = dimsOf(x).length;
  if (c.node.outputs.filter(Boolean).length > 1)
    c.fail('mean and inverse-deviation outputs are not supported');
  const axis = normAxis(c.int('axis', -1), rank);
  const perm = x.kind === 'sym' && !x.order ? x.perm : identity(rank);
  const type = x.kind === 'const' ? x.tensor.type : x.type;
  const axes = identity(rank - axis).map((i) => tfAxis(axis + i, perm));
  const params = (i: number) => {
    const v = c.optInput(i);
    return v?.kind === 'const' ? [{ v: liftConst(v, rank), perm }] : v ? [{ v, perm }] : [];
  };
  const scale = params(1);
  const bias = params(2);
  if (!scale.length && bias.length) c.fail('a bias without a scale is not supported');
  return c.op(
    'layer_norm',
    { axes, epsilon: c.float('epsilon', 1e-5) },
    [{ v: x, perm }, ...scale, ...bias],
    [{ perm, type }],
  );
});
