/**
 * ONNX op converters by op type, registered one file per op (ops/*.ts) as tfjs-backend-wasm
 * registers kernels. A converter reads its node through NodeCtx and returns one value per output.
 */
import type { NodeCtx } from './context.ts';
import type { Value } from './values.ts';

export type OpConverter = (c: NodeCtx) => Value[];

const converters = new Map<string, OpConverter>();

export function registerOnnxOp(opType: string, convert: OpConverter): void {
  converters.set(opType, convert);
}

export function onnxOpConverter(opType: string, domain = ''): OpConverter | undefined {
  return domain === '' || domain === 'ai.onnx' ? converters.get(opType) : undefined;
}

export function supportedOnnxOps(): string[] {
  return [...converters.keys()].sort();
}
