/**
 * Builds ONNX model bytes for tests with the same schema the parser reads (onnx-proto.ts), so fixtures
 * need no torch or onnx Python package. Objects use onnx.proto's snake_case field names.
 */
import protobuf from 'protobufjs';
import { ONNX_PROTO } from '../../src/onnx/onnx-proto.ts';

const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;

export function encodeOnnx(type: 'ModelProto' | 'TensorProto', obj: Record<string, unknown>): Uint8Array {
  const T = root.lookupType(`onnx.${type}`);
  return T.encode(T.fromObject(obj)).finish();
}

/** A float tensor with raw little-endian data (what torch.onnx.export writes). */
export function rawFloat(name: string, dims: number[], values: number[]): Record<string, unknown> {
  return { name, dims, data_type: 1, raw_data: new Uint8Array(new Float32Array(values).buffer) };
}

/** ValueInfoProto for a float tensor; a string dim is symbolic (dim_param). */
export function floatInfo(name: string, shape: (number | string)[]): Record<string, unknown> {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: 1,
        shape: { dim: shape.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) },
      },
    },
  };
}

export function model(graph: Record<string, unknown>, opset = 13): Uint8Array {
  return encodeOnnx('ModelProto', {
    ir_version: 7,
    producer_name: 'convlens-test',
    producer_version: '1',
    opset_import: [{ domain: '', version: opset }],
    graph,
  });
}
