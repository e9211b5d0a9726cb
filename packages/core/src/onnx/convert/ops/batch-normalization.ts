import * as tf from '@tensorflow/tfjs';
import { identity, tfAxis } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import { constOf } from '../values.ts';

registerOnnxOp('BatchNormalization', (c) => {
  if (c.int('training_mode', 0) === 1) c.fail('training mode is not supported (inference only)');
  if (c.node.outputs.filter(Boolean).length > 1)
    c.fail('running-statistics outputs are not supported (inference only)');
  // Folded into the conv before it: that conv's layer already computes this output.
  if (c.cv.fusedBn.has(c.node.name)) return [c.input(0)];
  const x = c.input(0);
  if (x.kind === 'const') return c.fail('normalizing a constant is not supported');
  const perm = x.order ? identity(2) : x.perm;
  const rank = perm.length;
  if (rank > 4) {
    // tfjs's batch norm stops at rank 4: scale and shift per channel as one element-wise layer.
    const eps = c.float('epsilon', 1e-5);
    const [g, b, m, v] = [1, 2, 3, 4].map((i) => c.constant(i).data);
    const scale = Float32Array.from(g, (gi, i) => gi / Math.sqrt(v[i] + eps));
    const shift = Float32Array.from(b, (bi, i) => bi - m[i] * scale[i]);
    const dims = [1, g.length, ...new Array(rank - 2).fill(1)];
    const [y] = c.op(
      'binary',
      { op: 'mul' },
      [
        { v: x, perm },
        { v: constOf('scale', 'float', dims, scale), perm },
      ],
      [{ perm, type: x.type }],
    );
    return c.op(
      'binary',
      { op: 'add' },
      [
        { v: y, perm },
        { v: constOf('shift', 'float', dims, shift), perm },
      ],
      [{ perm, type: x.type }],
    );
  }
  const t = c.arg(x, perm);
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) =>
    tf.tensor1d(Float32Array.from(c.constant(i).data)),
  );
  const layer = tf.layers.batchNormalization({
    axis: tfAxis(1, perm),
    epsilon: c.float('epsilon', 1e-5),
    name: c.layerName(),
  });
  // Applied before its weights are set: building inside apply() names them '<layer>/kernel'.
  const y = c.keras(layer, [t]);
  layer.setWeights([gamma, beta, mean, variance]);
  tf.dispose([gamma, beta, mean, variance]);
  return [c.sym(y, perm, x.type)];
});
