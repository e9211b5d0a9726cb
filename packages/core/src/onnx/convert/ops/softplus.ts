import { registerOnnxOp } from '../registry.ts';
import { unary } from './_shared.ts';

registerOnnxOp('Softplus', (c) => unary(c, 'softplus'));
