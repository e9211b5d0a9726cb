import { ONNX_ELEM_TYPES } from '../../graph.ts';
import { identity } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import { dimsOf, tfDtype } from '../values.ts';

registerOnnxOp('Cast', (c) => {
  // Strings have no tensor data here (graph.ts), so a cast to them is refused like an unknown type.
  const type = ONNX_ELEM_TYPES[c.int('to', 1)];
  if (!type || type === 'string') c.fail(`casting to type ${c.int('to', 1)} is not supported`);
  const x = c.input(0);
  const perm = x.kind === 'sym' && !x.order ? x.perm : identity(dimsOf(x).length);
  return c.op('cast', { dtype: tfDtype(type) }, [{ v: x, perm }], [{ perm, type }]);
});
