import { registerOnnxOp } from '../registry.ts';
import { unary } from './_shared.ts';

registerOnnxOp('Floor', (c) => unary(c, 'floor'));
