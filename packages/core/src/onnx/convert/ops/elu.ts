import { registerOnnxOp } from '../registry.ts';
import { unary } from './_shared.ts';

registerOnnxOp('Elu', (c) => unary(c, 'elu', { alpha: c.float('alpha', 1) }));
