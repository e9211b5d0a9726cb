import { registerOnnxOp } from '../registry.ts';
import { unary } from './_shared.ts';

registerOnnxOp('Selu', (c) =>
  unary(c, 'selu', {
    alpha: c.float('alpha', 1.6732632),
    gamma: c.float('gamma', 1.050701),
  }),
);
