import { registerOnnxOp } from '../registry.ts';
import { binary } from './_binary.ts';

registerOnnxOp('Div', (c) => binary(c, 'div'));
