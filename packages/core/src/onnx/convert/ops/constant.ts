import type { OnnxTensor } from '../../graph.ts';
import { registerOnnxOp } from '../registry.ts';
import { constOf } from '../values.ts';

registerOnnxOp('Constant', (c) => {
  const name = c.node.outputs[0];
  const t = c.attr('value');
  if (t && typeof t === 'object' && !Array.isArray(t))
    return [{ kind: 'const', tensor: { ...(t as OnnxTensor), name } }];
  const f = c.attr('value_float');
  if (typeof f === 'number') return [constOf(name, 'float', [], [f])];
  const fs = c.attr('value_floats');
  if (Array.isArray(fs)) return [constOf(name, 'float', [fs.length], fs as number[])];
  const i = c.attr('value_int');
  if (typeof i === 'number') return [constOf(name, 'int64', [], [i])];
  const is = c.attr('value_ints');
  if (Array.isArray(is)) return [constOf(name, 'int64', [is.length], is as number[])];
  return c.fail('has no value this converter reads (value, value_float(s), value_int(s))');
});

registerOnnxOp('ConstantOfShape', (c) => {
  const dims = c.ints(0, 'shape');
  const t = c.attr('value') as OnnxTensor | undefined;
  const v = t ? t.data[0] : 0;
  const n = dims.reduce((a, b) => a * b, 1);
  return [constOf(c.node.outputs[0], t?.type ?? 'float', dims, new Array(n).fill(v))];
});
