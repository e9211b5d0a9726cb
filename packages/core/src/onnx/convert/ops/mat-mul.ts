import { identity } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import { dimsOf } from '../values.ts';
import { dense } from './gemm.ts';

registerOnnxOp('MatMul', (c) => {
  const a = c.input(0);
  const b = c.input(1);
  const ra = dimsOf(a).length;
  if (!c.eager && a.kind === 'sym' && b.kind === 'const' && b.tensor.dims.length === 2 && ra >= 2) {
    const [k, n] = b.tensor.dims;
    const w = Float32Array.from(b.tensor.data);
    // Dense works on the last tfjs axis: fine in any layout that keeps ONNX's last axis last.
    if (a.order || a.perm[ra - 1] === ra - 1) return [dense(c, a, w, k, n)];
    return [dense(c, { ...a, t: c.arg(a, identity(ra)), perm: identity(ra) }, w, k, n)];
  }
  const rb = dimsOf(b).length;
  const type = a.kind === 'sym' ? a.type : b.kind === 'sym' ? b.type : a.tensor.type;
  const outRank = Math.max(ra, rb, 2) - (ra === 1 ? 1 : 0) - (rb === 1 ? 1 : 0);
  return c.op(
    'matmul',
    {},
    [
      { v: a, perm: identity(ra) },
      { v: b, perm: identity(rb) },
    ],
    [{ perm: identity(outRank), type }],
  );
});
