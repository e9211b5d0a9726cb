import { registerOnnxOp } from '../registry.ts';
import { pool } from './_pool.ts';

registerOnnxOp('AveragePool', (c) => pool(c, 'avg'));
