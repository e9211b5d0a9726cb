import { registerOnnxOp } from '../registry.ts';
import { unary } from './_shared.ts';

registerOnnxOp('Abs', (c) => unary(c, 'abs'));
