/**
 * ONNX protobuf bytes → OnnxGraph (graph.ts): protobufjs decodes with ONNX's own schema (onnx-proto.ts);
 * this module only turns the messages into plain data, resolves external data and checks the opset.
 * Browser-safe: files are read by the caller (externalData hands back the bytes of a side file).
 */
import protobuf from 'protobufjs';
import {
  ONNX_ELEM_TYPES,
  type OnnxAttribute,
  type OnnxElemType,
  type OnnxGraph,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from './graph.ts';
import { ONNX_PROTO } from './onnx-proto.ts';

/**
 * Default-domain opsets convlens reads. The converter targets 11–17 (what torch.onnx.export writes).
 * 6–10 are accepted because the ops CNNs use read the same there apart from changes the converter
 * handles per node: attributes that later became inputs (Clip min/max, Pad pads, Squeeze/Unsqueeze axes,
 * Slice, Upsample scales) and opset 6's `broadcast`/`axis` on Add/Mul/Sub/Div/Gemm (ONNX's own
 * pytorch-converted conformance models are opset 6). 18 moved reduce axes to inputs and is common, so
 * it is accepted too.
 */
export const MIN_OPSET = 6;
export const MAX_OPSET = 18;

export interface ParseOnnxOptions {
  /** Reads `length` bytes (to the end when undefined) at `offset` of an external-data file named `location`. */
  externalData?: (location: string, offset: number, length: number | undefined) => Uint8Array;
  /** Names the model in error messages (its file name). */
  source?: string;
}

/** One line for the CLI: what is wrong with which file. */
export class OnnxParseError extends Error {
  override name = 'OnnxParseError';
}

let root: protobuf.Root | undefined;
function schema(): protobuf.Root {
  root ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
  return root;
}

const ELEM_TYPES = ONNX_ELEM_TYPES;
const ELEM_NAMES: Record<number, string> = { 14: 'complex64', 15: 'complex128', 16: 'bfloat16' };

/** protobufjs hands int64 fields back as Long objects (when `long` is installed) or numbers. */
type Int64 = number | { toNumber(): number };
const num = (v: Int64 | null | undefined): number =>
  v == null ? 0 : typeof v === 'number' ? v : v.toNumber();

export function parseOnnxModel(bytes: Uint8Array, o: ParseOnnxOptions = {}): OnnxGraph {
  const source = o.source ?? 'model';
  let m: any;
  try {
    m = schema().lookupType('onnx.ModelProto').decode(bytes);
  } catch (e) {
    throw new OnnxParseError(`${source}: not an ONNX model (${why(e)})`);
  }
  const g = m.graph;
  if (!g?.node?.length) throw new OnnxParseError(`${source}: not an ONNX model (no graph; truncated?)`);
  if (!num(m.ir_version)) throw new OnnxParseError(`${source}: not an ONNX model (no IR version)`);
  const opsets: any[] = m.opset_import ?? [];
  if (opsets.length === 0)
    throw new OnnxParseError(`${source}: not an ONNX model (no opset import; truncated?)`);
  const main = opsets.find((s) => !s.domain || s.domain === 'ai.onnx');
  const opset = main ? num(main.version) : 0;
  if (opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new OnnxParseError(
      `${source}: ONNX opset ${opset || 'none'} is not supported (convlens reads opsets ${MIN_OPSET}–${MAX_OPSET}; ` +
        're-export with torch.onnx.export(..., opset_version=17))',
    );
  }
  const tensor = (t: any): OnnxTensor => readTensor(t, source, o.externalData);
  const initializers = new Map<string, OnnxTensor>();
  for (const t of g.initializer ?? []) initializers.set(t.name, tensor(t));
  // Constant nodes keep their tensors as attributes; sparse initializers are rare in CNNs: refuse them.
  if (g.sparse_initializer?.length) {
    throw new OnnxParseError(
      `${source}: sparse initializers are not supported (${g.sparse_initializer.length})`,
    );
  }
  const nodes: OnnxNode[] = (g.node as any[]).map((n, i) => ({
    name: n.name || `${n.op_type}_${i}`,
    opType: n.op_type ?? '',
    domain: n.domain ?? '',
    inputs: [...(n.input ?? [])],
    outputs: [...(n.output ?? [])],
    attributes: Object.fromEntries(
      (n.attribute ?? [])
        .map((a: any) => [a.name, readAttribute(a, tensor)] as const)
        .filter(([, v]: readonly [string, OnnxAttribute | undefined]) => v !== undefined),
    ),
  }));
  const metadata: Record<string, string> = {};
  for (const p of m.metadata_props ?? []) metadata[p.key] = p.value ?? '';
  return {
    name: g.name ?? '',
    nodes,
    initializers,
    inputs: (g.input ?? []).filter((v: any) => !initializers.has(v.name)).map(valueInfo),
    outputs: (g.output ?? []).map(valueInfo),
    valueInfo: (g.value_info ?? []).map(valueInfo),
    opset,
    producer: [m.producer_name, m.producer_version].filter(Boolean).join(' '),
    metadata,
  };
}

/** A serialized TensorProto (the conformance tests' input_N.pb / output_N.pb). */
export function parseOnnxTensor(bytes: Uint8Array, o: ParseOnnxOptions = {}): OnnxTensor {
  const source = o.source ?? 'tensor';
  let t: any;
  try {
    t = schema().lookupType('onnx.TensorProto').decode(bytes);
  } catch (e) {
    throw new OnnxParseError(`${source}: not an ONNX tensor (${why(e)})`);
  }
  return readTensor(t, source, o.externalData);
}

function why(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return /index out of range/.test(msg) ? `truncated or corrupt: ${msg}` : msg;
}

function valueInfo(v: any): OnnxValueInfo {
  const tt = v.type?.tensor_type;
  const dims: any[] = tt?.shape?.dim ?? [];
  return {
    name: v.name ?? '',
    type: ELEM_TYPES[tt?.elem_type ?? 1] ?? 'float',
    shape: dims.map((d) => (d.dim_param ? d.dim_param : d.dim_value != null ? num(d.dim_value) : null)),
  };
}

// AttributeProto.AttributeType
const A = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9 };
const utf8 = new TextDecoder();

/** Graph-valued attributes (If/Loop bodies) are left out: convlens converts no control flow. */
function readAttribute(a: any, tensor: (t: any) => OnnxTensor): OnnxAttribute | undefined {
  // Old exporters may leave `type` unset: fall back on which field holds a value.
  const type =
    a.type ||
    (a.floats?.length
      ? A.FLOATS
      : a.ints?.length
        ? A.INTS
        : a.strings?.length
          ? A.STRINGS
          : a.tensors?.length
            ? A.TENSORS
            : a.t
              ? A.TENSOR
              : a.s?.length
                ? A.STRING
                : a.i != null && num(a.i) !== 0
                  ? A.INT
                  : A.FLOAT);
  switch (type) {
    case A.FLOAT:
      return a.f ?? 0;
    case A.INT:
      return num(a.i);
    case A.STRING:
      return utf8.decode(a.s ?? new Uint8Array());
    case A.TENSOR:
      return tensor(a.t);
    case A.FLOATS:
      return [...(a.floats ?? [])];
    case A.INTS:
      return (a.ints ?? []).map(num);
    case A.STRINGS:
      return (a.strings ?? []).map((s: Uint8Array) => utf8.decode(s));
    case A.TENSORS:
      return (a.tensors ?? []).map(tensor);
    default:
      return undefined;
  }
}

function readTensor(t: any, source: string, externalData: ParseOnnxOptions['externalData']): OnnxTensor {
  const name: string = t.name ?? '';
  const code: number = t.data_type ?? 0;
  const type = ELEM_TYPES[code];
  if (!type) {
    throw new OnnxParseError(
      `${source}: tensor '${name}' has data type ${ELEM_NAMES[code] ?? code}, which convlens does not read`,
    );
  }
  const dims: number[] = (t.dims ?? []).map(num);
  const count = dims.reduce((a, b) => a * b, 1);
  if (type === 'string') return { name, type, dims, data: new Float32Array(0) };
  let raw: Uint8Array | undefined = t.raw_data?.length ? t.raw_data : undefined;
  if (t.data_location === 1) raw = readExternal(t, name, source, externalData);
  const data = raw ? fromRaw(raw, type, count) : fromTyped(t, type);
  if (data.length !== count) {
    throw new OnnxParseError(
      `${source}: tensor '${name}' holds ${data.length} values for dims [${dims.join(', ')}] (${count}); truncated?`,
    );
  }
  return { name, type, dims, data };
}

function readExternal(
  t: any,
  name: string,
  source: string,
  externalData: ParseOnnxOptions['externalData'],
): Uint8Array {
  const kv: Record<string, string> = {};
  for (const e of t.external_data ?? []) kv[e.key] = e.value;
  if (!kv.location) throw new OnnxParseError(`${source}: tensor '${name}' is external but names no location`);
  if (!externalData) {
    throw new OnnxParseError(
      `${source}: tensor '${name}' keeps its data in '${kv.location}'; open the model from its file so convlens can read it`,
    );
  }
  const offset = kv.offset ? Number(kv.offset) : 0;
  const length = kv.length ? Number(kv.length) : undefined;
  return externalData(kv.location, offset, length);
}

const BYTES: Record<OnnxElemType, number> = {
  float: 4,
  double: 8,
  float16: 2,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
  bool: 1,
  string: 0,
};

/** raw_data is little-endian; copied to an aligned buffer before viewing it as typed values. */
function fromRaw(raw: Uint8Array, type: OnnxElemType, count: number): Float32Array | Float64Array {
  const size = BYTES[type];
  if (raw.length !== count * size) return new Float32Array(Math.floor(raw.length / size)); // reported as a mismatch
  const buf = new Uint8Array(raw).buffer; // a copy: raw may be a view into a larger (Node pool) buffer
  switch (type) {
    case 'float':
      return new Float32Array(buf);
    case 'double':
      return Float32Array.from(new Float64Array(buf));
    case 'float16':
      return halfToFloat(new Uint16Array(buf));
    case 'int8':
      return Float64Array.from(new Int8Array(buf));
    case 'uint8':
    case 'bool':
      return Float64Array.from(new Uint8Array(buf));
    case 'int16':
      return Float64Array.from(new Int16Array(buf));
    case 'uint16':
      return Float64Array.from(new Uint16Array(buf));
    case 'int32':
      return Float64Array.from(new Int32Array(buf));
    case 'uint32':
      return Float64Array.from(new Uint32Array(buf));
    case 'int64':
      return Float64Array.from(new BigInt64Array(buf), Number);
    case 'uint64':
      return Float64Array.from(new BigUint64Array(buf), Number);
    default:
      return new Float32Array(0);
  }
}

/** The typed *_data fields: which one holds which element type is fixed by onnx.proto. */
function fromTyped(t: any, type: OnnxElemType): Float32Array | Float64Array {
  switch (type) {
    case 'float':
      return Float32Array.from(t.float_data ?? []);
    case 'double':
      return Float32Array.from(t.double_data ?? []);
    case 'float16': // int32_data holds the IEEE half bit patterns
      return halfToFloat(Uint16Array.from(t.int32_data ?? []));
    case 'int64':
      return Float64Array.from(t.int64_data ?? [], num);
    case 'uint32':
    case 'uint64':
      return Float64Array.from(t.uint64_data ?? [], (v: Int64) => {
        const n = num(v);
        return n < 0 ? n + 2 ** 64 : n; // Long decodes uint64 as signed unless marked unsigned
      });
    default: // int8, uint8, int16, uint16, int32, bool
      return Float64Array.from(t.int32_data ?? []);
  }
}

function halfToFloat(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const v = h[i];
    const sign = v & 0x8000 ? -1 : 1;
    const exp = (v >> 10) & 0x1f;
    const frac = v & 0x3ff;
    out[i] =
      exp === 0
        ? sign * 2 ** -14 * (frac / 1024)
        : exp === 31
          ? frac
            ? Number.NaN
            : sign * Number.POSITIVE_INFINITY
          : sign * 2 ** (exp - 15) * (1 + frac / 1024);
  }
  return out;
}
