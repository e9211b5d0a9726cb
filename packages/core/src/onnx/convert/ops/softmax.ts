import * as tf from '@tensorflow/tfjs';
import type { NodeCtx } from '../context.ts';
import { identity, tfAxis } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import { dimsOf } from '../values.ts';
import { normAxis } from './_shared.ts';

function softmax(c: NodeCtx, log: boolean) {
  const x = c.input(0);
  const rank = dimsOf(x).length;
  const axis = normAxis(c.int('axis', c.opset >= 13 ? -1 : 1), rank);
  const type = x.kind === 'const' ? x.tensor.type : x.type;
  // Before opset 13 softmax ran over axes [axis, rank) flattened: one axis only when it is the last.
  if (c.opset < 13 && axis !== rank - 1) {
    const perm = identity(rank);
    return c.op('softmax', { axis, log, flat: true }, [{ v: x, perm }], [{ perm, type }]);
  }
  const perm = x.kind === 'sym' && !x.order ? x.perm : identity(rank);
  const ta = tfAxis(axis, perm);
  if (x.kind === 'sym' && !c.eager && !log && ta === rank - 1 && ta !== 0)
    return [
      c.sym(c.keras(tf.layers.softmax({ axis: ta, name: c.layerName() }), [c.arg(x, perm)]), perm, type),
    ];
  return c.op('softmax', { axis: ta, log }, [{ v: x, perm }], [{ perm, type }]);
}

registerOnnxOp('Softmax', (c) => softmax(c, false));
registerOnnxOp('LogSoftmax', (c) => softmax(c, true));
