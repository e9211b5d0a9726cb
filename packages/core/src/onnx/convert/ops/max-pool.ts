import { registerOnnxOp } from '../registry.ts';
import { pool } from './_pool.ts';

registerOnnxOp('MaxPool', (c) => pool(c, 'max'));
