import { identity } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import { dimsOf } from '../values.ts';

// A transpose only changes which ONNX axis each tfjs axis holds: no data moves.
registerOnnxOp('Transpose', (c) => {
  const x = c.input(0);
  const rank = dimsOf(x).length;
  const q = c.intList('perm') ?? identity(rank).reverse();
  const qinv = new Array<number>(rank);
  q.forEach((a, j) => {
    qinv[a] = j;
  });
  if (x.kind === 'const' || x.order || c.eager) {
    const from = x.kind === 'sym' && !x.order ? x.perm : identity(rank);
    const t = c.arg(x, from);
    return [
      c.sym(
        t,
        from.map((a) => qinv[a]),
        x.kind === 'const' ? x.tensor.type : x.type,
      ),
    ];
  }
  return [{ ...x, dims: q.map((a) => x.dims[a]), perm: x.perm.map((a) => qinv[a]) }];
});
