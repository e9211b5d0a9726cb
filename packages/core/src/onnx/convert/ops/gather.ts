import { identity, tfAxis } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import { dimsOf } from '../values.ts';
import { normAxis } from './_shared.ts';

registerOnnxOp('Gather', (c) => {
  const x = c.input(0);
  const dims = dimsOf(x);
  const axis = normAxis(c.int('axis', 0), dims.length);
  const idx = c.constant(1, 'indices');
  const indices = Array.from(idx.data, (i) => (i < 0 ? i + dims[axis] : i));
  const perm = x.kind === 'sym' && !x.order ? x.perm : identity(dims.length);
  const ta = tfAxis(axis, perm);
  // The gathered axis becomes the indices' axes, in place (in ONNX and in tfjs).
  const k = idx.dims.length;
  const out: number[] = [];
  for (const a of perm) {
    if (a === axis) for (let j = 0; j < k; j++) out.push(axis + j);
    else out.push(a < axis ? a : a + k - 1);
  }
  const type = x.kind === 'const' ? x.tensor.type : x.type;
  return c.op('gather', { axis: ta, indices, indexShape: idx.dims }, [{ v: x, perm }], [{ perm: out, type }]);
});
