import { registerOnnxOp } from '../registry.ts';
import { binary } from './_binary.ts';

registerOnnxOp('PRelu', (c) => binary(c, 'prelu'));
