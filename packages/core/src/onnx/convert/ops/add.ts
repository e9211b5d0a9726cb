import { registerOnnxOp } from '../registry.ts';
import { binary } from './_binary.ts';

registerOnnxOp('Add', (c) => binary(c, 'add'));
