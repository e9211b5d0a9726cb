import { registerOnnxOp } from '../registry.ts';
import { unary } from './_shared.ts';

registerOnnxOp('Softsign', (c) => unary(c, 'softsign'));
