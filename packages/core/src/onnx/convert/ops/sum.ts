import { registerOnnxOp } from '../registry.ts';
import { binary } from './_binary.ts';

registerOnnxOp('Sum', (c) => binary(c, 'add'));
