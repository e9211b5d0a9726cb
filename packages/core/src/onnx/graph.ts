/**
 * An ONNX model as convlens reads it: plain data, no protobuf types. The parser (parse.ts) produces it
 * from the file's bytes; the converter (convert/) turns it into a tfjs model. Keeping this contract
 * small lets either side change without the other.
 */

/** ONNX TensorProto element types convlens reads (the names of TensorProto.DataType, lower case). */
export type OnnxElemType =
  | 'float'
  | 'double'
  | 'float16'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'string';

/** TensorProto.DataType numbers of the element types above (the file stores numbers). */
export const ONNX_ELEM_TYPES: Readonly<Record<number, OnnxElemType>> = {
  1: 'float',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'double',
  12: 'uint32',
  13: 'uint64',
};

export interface OnnxTensor {
  name: string;
  type: OnnxElemType;
  /** Row-major dims as in the file (NCHW for images); [] for a scalar. */
  dims: number[];
  /**
   * float, double and float16 values as Float32Array; every integer and bool type as Float64Array
   * (exact to 2^53; int64 extremes such as INT64_MAX in Slice ends become ±9.22e18, which clamp the same).
   * Strings are not supported as data (an empty Float32Array with type 'string').
   */
  data: Float32Array | Float64Array;
}

/** An attribute's value: AttributeProto's f/i/s/t and their lists (ints as numbers, strings decoded UTF-8). */
export type OnnxAttribute = number | number[] | string | string[] | OnnxTensor | OnnxTensor[];

export interface OnnxNode {
  /** The node's name (may be empty in the file: the parser then names it `${opType}_${index}`). */
  name: string;
  opType: string;
  /** '' (or 'ai.onnx') for the default domain. */
  domain: string;
  /** Input value names; '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attributes: Record<string, OnnxAttribute>;
}

export interface OnnxValueInfo {
  name: string;
  type: OnnxElemType;
  /** Per dim: a size, a symbolic name (dim_param, e.g. 'batch_size'), or null when unknown. */
  shape: (number | string | null)[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  /** Constant tensors (weights) by name; external data already resolved. */
  initializers: Map<string, OnnxTensor>;
  /** Real inputs only: graph inputs that are also initializers are left out. */
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  /** Shapes the exporter recorded for intermediate values (may be empty). */
  valueInfo: OnnxValueInfo[];
  /** Opset version of the default domain ('' / 'ai.onnx'). */
  opset: number;
  producer: string;
  /** metadata_props of the model. */
  metadata: Record<string, string>;
}
