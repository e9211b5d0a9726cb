import { registerOnnxOp } from '../registry.ts';
import { unary } from './_shared.ts';

registerOnnxOp('HardSwish', (c) => unary(c, 'hardSwish'));
