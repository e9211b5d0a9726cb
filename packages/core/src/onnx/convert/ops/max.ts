import { registerOnnxOp } from '../registry.ts';
import { binary } from './_binary.ts';

registerOnnxOp('Max', (c) => binary(c, 'max'));
