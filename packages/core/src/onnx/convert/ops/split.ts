import { identity, tfAxis } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import { dimsOf } from '../values.ts';
import { normAxis } from './_shared.ts';

// Split (PyTorch's chunk/split): one slice per output along the axis, in the value's own layout.
registerOnnxOp('Split', (c) => {
  const x = c.input(0);
  const dims = dimsOf(x);
  const axis = normAxis(c.int('axis', 0), dims.length);
  const n = c.node.outputs.length;
  const given = c.opset >= 13 ? (c.has(1) ? c.ints(1, 'split') : undefined) : c.intList('split');
  const size = dims[axis];
  const parts =
    given ??
    Array.from({ length: n }, (_, i) => Math.min(Math.ceil(size / n), size - i * Math.ceil(size / n)));
  const perm = x.kind === 'sym' && !x.order ? x.perm : identity(dims.length);
  const type = x.kind === 'const' ? x.tensor.type : x.type;
  const ta = tfAxis(axis, perm);
  let start = 0;
  return parts.map((len) => {
    const begin = perm.map((_, i) => (i === ta ? start : 0));
    const sizes = perm.map((_, i) => (i === ta ? len : -1));
    start += len;
    return c.op('slice', { begin, size: sizes }, [{ v: x, perm }], [{ perm, type }])[0];
  });
});
