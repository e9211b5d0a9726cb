import * as tf from '@tensorflow/tfjs';
import { identity, tfAxis } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';

registerOnnxOp('BatchNormalization', (c) => {
  if (c.int('training_mode', 0) === 1) c.fail('training mode is not supported (inference only)');
  if (c.node.outputs.filter(Boolean).length > 1)
    c.fail('running-statistics outputs are not supported (inference only)');
  // Folded into the conv before it: that conv's layer already computes this output.
  if (c.cv.fusedBn.has(c.node.name)) return [c.input(0)];
  const x = c.input(0);
  if (x.kind === 'const') return c.fail('normalizing a constant is not supported');
  const perm = x.order ? identity(2) : x.perm;
  const t = c.arg(x, perm);
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) =>
    tf.tensor1d(Float32Array.from(c.constant(i).data)),
  );
  const layer = tf.layers.batchNormalization({
    axis: tfAxis(1, perm),
    epsilon: c.float('epsilon', 1e-5),
    name: c.layerName(),
  });
  layer.build(t.shape);
  layer.setWeights([gamma, beta, mean, variance]);
  tf.dispose([gamma, beta, mean, variance]);
  return [c.sym(c.keras(layer, [t]), perm, x.type)];
});
