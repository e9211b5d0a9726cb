/** What the converter holds for each ONNX value: a constant, or a tfjs tensor in some layout. */
import * as tf from '@tensorflow/tfjs';
import type { OnnxElemType, OnnxTensor } from '../graph.ts';
import { identity, samePerm, toOnnx, transposeData } from './layout.ts';

export type TfDtype = 'float32' | 'int32' | 'bool';

export interface SymValue {
  kind: 'sym';
  /** A symbolic tensor while building the model; a concrete one while folding constants. */
  t: tf.SymbolicTensor | tf.Tensor;
  /** ONNX dims, the batch at its conversion-time size. */
  dims: number[];
  /** tfjs axis i holds ONNX axis perm[i]. */
  perm: number[];
  /** Only for rank 2: tfjs column j holds ONNX column order[j] (a flattened NHWC tensor). */
  order?: Int32Array;
  type: OnnxElemType;
}

export interface ConstValue {
  kind: 'const';
  tensor: OnnxTensor;
}

export type Value = SymValue | ConstValue;

const FLOATS: OnnxElemType[] = ['float', 'double', 'float16'];

export const tfDtype = (type: OnnxElemType): TfDtype =>
  FLOATS.includes(type) ? 'float32' : type === 'bool' ? 'bool' : 'int32';

export const dimsOf = (v: Value): number[] => (v.kind === 'const' ? v.tensor.dims : v.dims);
export const typeOf = (v: Value): OnnxElemType => (v.kind === 'const' ? v.tensor.type : v.type);

const INT32_MAX = 2147483647;

/** A constant as a tfjs tensor in layout `perm` (int64 extremes clamp to int32). */
export function constTensor(c: OnnxTensor, perm: number[] = identity(c.dims.length)): tf.Tensor {
  const dtype = tfDtype(c.type);
  let data: Float32Array | Float64Array | Int32Array | Uint8Array = transposeData(c.data, c.dims, perm);
  if (dtype === 'int32')
    data = Int32Array.from(data, (v) => Math.max(-INT32_MAX - 1, Math.min(INT32_MAX, v)));
  if (dtype === 'bool') data = Uint8Array.from(data, (v) => (v ? 1 : 0));
  const shape = perm.map((a) => c.dims[a]);
  return tf.tensor(data as Float32Array, shape, dtype);
}

/** Reads a concrete tensor held in layout `perm` back into an ONNX constant. */
export function tensorToConst(t: tf.Tensor, perm: number[], name: string, type: OnnxElemType): OnnxTensor {
  const dims = toOnnx(t.shape, perm);
  const raw = t.dataSync();
  const back = samePerm(perm, identity(perm.length))
    ? raw
    : transposeData(
        Float64Array.from(raw),
        t.shape,
        perm.map((_, i) => perm.indexOf(i)),
      );
  const data = tfDtype(type) === 'float32' ? Float32Array.from(back) : Float64Array.from(back);
  return { name, type, dims, data };
}

export const constOf = (
  name: string,
  type: OnnxElemType,
  dims: number[],
  values: ArrayLike<number>,
): ConstValue => ({
  kind: 'const',
  tensor: {
    name,
    type,
    dims,
    data: tfDtype(type) === 'float32' ? Float32Array.from(values) : Float64Array.from(values),
  },
});
