import { registerOnnxOp } from '../registry.ts';
import { unary } from './_shared.ts';

registerOnnxOp('Reciprocal', (c) => unary(c, 'reciprocal'));
