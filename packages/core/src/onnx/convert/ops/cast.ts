import type { OnnxElemType } from '../../graph.ts';
import { identity } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import { dimsOf, tfDtype } from '../values.ts';

/** TensorProto.DataType numbers → element types. */
const TYPES: Record<number, OnnxElemType> = {
  1: 'float',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
  11: 'double',
  12: 'uint32',
  13: 'uint64',
};

registerOnnxOp('Cast', (c) => {
  const type = TYPES[c.int('to', 1)];
  if (!type) c.fail(`casting to type ${c.int('to', 1)} is not supported`);
  const x = c.input(0);
  const perm = x.kind === 'sym' && !x.order ? x.perm : identity(dimsOf(x).length);
  return c.op('cast', { dtype: tfDtype(type) }, [{ v: x, perm }], [{ perm, type }]);
});
