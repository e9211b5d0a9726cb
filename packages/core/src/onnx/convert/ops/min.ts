import { registerOnnxOp } from '../registry.ts';
import { binary } from './_binary.ts';

registerOnnxOp('Min', (c) => binary(c, 'min'));
