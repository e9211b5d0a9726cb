import { registerOnnxOp } from '../registry.ts';
import { unary } from './_shared.ts';

registerOnnxOp('Ceil', (c) => unary(c, 'ceil'));
