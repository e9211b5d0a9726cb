import { registerOnnxOp } from '../registry.ts';
import { unary } from './_shared.ts';

registerOnnxOp('Sqrt', (c) => unary(c, 'sqrt'));
