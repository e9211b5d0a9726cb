import * as tf from '@tensorflow/tfjs';
import { tfAxis } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import type { SymValue } from '../values.ts';
import { broadcastArgs, normAxis } from './_shared.ts';

registerOnnxOp('Concat', (c) => {
  // Empty inputs (a 0-length shape piece) add nothing.
  const vals = c.node.inputs
    .map((_, i) => c.input(i))
    .filter((v) => (v.kind === 'const' ? v.tensor.data.length > 0 || v.tensor.dims.length > 1 : true));
  const { args, perm } = broadcastArgs(c, vals);
  const axis = tfAxis(normAxis(c.int('axis', 0), perm.length), perm);
  const type =
    (vals.find((v) => v.kind === 'sym') as SymValue | undefined)?.type ??
    (vals[0].kind === 'const' ? vals[0].tensor.type : 'float');
  if (!c.eager && axis !== 0 && args.length > 1 && args.every((a) => a.v.kind === 'sym')) {
    const ts = args.map((a) => c.arg(a.v, a.perm));
    return [c.sym(c.keras(tf.layers.concatenate({ axis, name: c.layerName() }), ts), perm, type)];
  }
  return c.op('concat', { axis }, args, [{ perm, type }]);
});
