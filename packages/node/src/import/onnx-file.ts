/**
 * An .onnx file (and its external-data files) → a tfjs layers model, through core's parser and
 * converter. The model's metadata records what convlens needs later, and survives `convlens import`:
 * its layer aliases (PyTorch module names: `--layer layer4`) and whether its output is logits.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import type { tf } from '@convlens/core/engine/backend';
import { LAYER_ALIASES_KEY } from '@convlens/core/models/layer-aliases';
import { convertOnnx } from '@convlens/core/onnx/convert/index';
import type { OnnxGraph } from '@convlens/core/onnx/graph';
import { parseOnnxModel } from '@convlens/core/onnx/parse';

export interface OnnxLoadOptions {
  /** Dims of the input in the file's layout: [C,H,W], [N,C,H,W], or [H,W] (channels from the file). */
  inputShape?: number[];
}

/** '3,224,224', '1x3x224x224' or '224,224' → dims; one line naming the flag otherwise. */
export function parseInputShape(spec: string): number[] {
  const dims = spec
    .split(/[,x×\s]+/)
    .filter(Boolean)
    .map(Number);
  if (dims.length < 2 || dims.length > 4 || !dims.every((d) => Number.isInteger(d) && d > 0))
    throw new Error(
      `--input-shape '${spec}': expected positive sizes such as 3,224,224 (C,H,W) or 1,3,224,224`,
    );
  return dims;
}

/** Reads external-data files beside the model, each once, refusing any path outside the model's folder. */
function externalReader(source: string) {
  const dir = dirname(resolve(source));
  const files = new Map<string, Uint8Array>();
  return (location: string, offset: number, length: number | undefined): Uint8Array => {
    const path = resolve(dir, location);
    const rel = relative(dir, path);
    if (!rel || rel.startsWith('..') || isAbsolute(rel) || isAbsolute(location))
      throw new Error(
        `${source}: external data '${location}' lies outside the model's folder; refusing to read it`,
      );
    let bytes = files.get(path);
    if (!bytes) {
      try {
        bytes = readFileSync(path);
      } catch (err: any) {
        throw new Error(
          `${source}: external data file '${location}' ${err.code === 'ENOENT' ? 'is missing' : `cannot be read (${err.code})`} (expected at ${path})`,
        );
      }
      files.set(path, bytes);
    }
    const end = length === undefined ? bytes.length : offset + length;
    if (offset < 0 || end > bytes.length)
      throw new Error(
        `${source}: external data '${location}' holds ${bytes.length} bytes, the model reads ${offset}…${end}`,
      );
    return bytes.subarray(offset, end);
  };
}

/** Ops after which a graph output is not a score but a shape change of one. */
const PASS = new Set(['Identity', 'Flatten', 'Reshape', 'Squeeze', 'Dropout']);

/**
 * Whether the graph's output is pre-softmax: true unless it ends (past shape-only ops) in Softmax or
 * Sigmoid. torchvision classifiers end in Gemm (or SqueezeNet's conv + pool); LogSoftmax outputs
 * differ from logits by a per-example constant, so they count as logits.
 */
export function outputIsLogits(graph: OnnxGraph): boolean {
  const producer = new Map(graph.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  let node = producer.get(graph.outputs[0]?.name ?? '');
  while (node && PASS.has(node.opType)) node = producer.get(node.inputs[0]);
  return !!node && node.opType !== 'Softmax' && node.opType !== 'Sigmoid';
}

export interface LoadedOnnx {
  model: tf.LayersModel;
  graph: OnnxGraph;
  logits: boolean;
}

/** Loads and converts; every failure is one line starting with the file's name. */
export async function loadOnnxFile(source: string, o: OnnxLoadOptions = {}): Promise<LoadedOnnx> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(source);
  } catch (err: any) {
    throw new Error(`${source}: cannot read (${err.code === 'ENOENT' ? 'file not found' : err.code})`);
  }
  const graph = parseOnnxModel(bytes, { source, externalData: externalReader(source) });
  let inputShape = o.inputShape;
  if (inputShape?.length === 2) {
    const c = graph.inputs[0]?.shape[1];
    inputShape = [typeof c === 'number' && c > 0 ? c : 3, ...inputShape];
  }
  let converted: ReturnType<typeof convertOnnx>;
  try {
    converted = convertOnnx(graph, { inputShape });
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0];
    throw new Error(msg.startsWith(source) ? msg : `${source}: ${msg}`);
  }
  const logits = outputIsLogits(graph);
  const model = converted.model;
  model.setUserDefinedMetadata({
    onnx: { opset: graph.opset, producer: graph.producer },
    ...(logits ? { scores: 'logits' } : {}),
    [LAYER_ALIASES_KEY]: converted.aliases,
  });
  return { model, graph, logits };
}
