/**
 * Keras HDF5 models: `.h5` files from model.save() (Keras 2: model_config attribute + model_weights/<layer>
 * groups with weight_names attributes) and `.keras` zips (Keras 3: config.json + model.weights.h5 with
 * layers/<layer>/vars/<i>). Read with h5wasm (the HDF5 C library in wasm); converted to tfjs layers in memory.
 */
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '@convlens/core/engine/backend';
import h5wasm from 'h5wasm/node';
import { modelFromKerasConfig } from './keras-config.ts';

type H5File = InstanceType<typeof h5wasm.File>;
type H5Group = InstanceType<typeof h5wasm.Group>;
type H5Dataset = InstanceType<typeof h5wasm.Dataset>;

/**
 * Opens HDF5 bytes. h5wasm's Node build uses the real file system (NODERAWFS), so the bytes go to a private
 * temp file that is removed on close.
 */
export async function openH5(
  bytes: Uint8Array,
  source: string,
): Promise<{ file: H5File; close: () => void }> {
  const Module = await h5wasm.ready;
  // HDF5 files start with the 8-byte signature \x89HDF\r\n\x1a\n (at offset 0 for Keras files).
  const sig = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 8 || sig.some((b, i) => bytes[i] !== b)) throw new Error(`${source}: not an HDF5 file`);
  const FS = (Module as any).FS;
  const name = join(tmpdir(), `convlens-${process.pid}-${Math.random().toString(36).slice(2)}.h5`);
  FS.writeFile(name, bytes);
  let file: H5File | undefined;
  try {
    file = quiet(() => new h5wasm.File(name, 'r'));
  } catch {
    // reported below
  }
  // h5wasm does not throw when H5Fopen fails (e.g. a truncated file); it leaves a negative id.
  if (!file || file.file_id < 0n) {
    FS.unlink(name);
    throw new Error(`${source}: corrupt or truncated HDF5 file (cannot read its superblock)`);
  }
  const opened = file;
  return {
    file: opened,
    close: () => {
      quiet(() => opened.close());
      FS.unlink(name);
    },
  };
}

/**
 * Runs fn with the HDF5 library's diagnostic dumps (dozens of 'HDF5-DIAG' lines written straight to fd 2
 * through emscripten's NODERAWFS) dropped, so a bad file yields our one-line error only.
 */
// Report the dump as written: a short count would make emscripten retry the write forever.
const byteCount = ([buf, offset, length]: any[]): number =>
  typeof buf === 'string' ? Buffer.byteLength(buf) : (length ?? buf.byteLength - (offset ?? 0));

export function quiet<T>(fn: () => T): T {
  const write = fs.writeSync;
  (fs as any).writeSync = (fd: number, ...rest: any[]) =>
    fd === 2 ? byteCount(rest) : (write as any)(fd, ...rest);
  try {
    return fn();
  } finally {
    (fs as any).writeSync = write;
  }
}

/** h5wasm's errors on truncated files ("name not defined") don't name the file; ours already do. */
function corrupt(err: unknown, source: string): Error {
  const msg = String((err as Error)?.message ?? err).split('\n')[0];
  return msg.startsWith(source)
    ? (err as Error)
    : new Error(`${source}: corrupt or incomplete HDF5 file (${msg})`);
}

const str = (v: unknown): string => (v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v));

function attrStrings(g: H5Group, name: string): string[] {
  const a = g.attrs[name];
  if (!a) return [];
  const v = quiet(() => a.value) as unknown;
  return (Array.isArray(v) ? v : [v]).map(str);
}

/**
 * The most values one weight tensor may declare (1 GiB of float32). A dataset's shape is read before its
 * data: HDF5 chunks can be deflated or left unallocated, so a tiny file can declare gigabytes.
 */
export const MAX_WEIGHT_VALUES = 2 ** 28;

export function readTensor(ds: H5Dataset, where: string): tf.Tensor {
  const shape = ds.shape ?? [];
  const n = shape.reduce((a, b) => a * b, 1);
  if (n > MAX_WEIGHT_VALUES)
    throw new Error(
      `${where}: weight declares ${n.toLocaleString('en-US')} values (${shape.join('×')}), more than the ${MAX_WEIGHT_VALUES.toLocaleString('en-US')} limit`,
    );
  const v = quiet(() => ds.value) as unknown;
  if (!(v instanceof Float32Array || v instanceof Float64Array || v instanceof Int32Array))
    throw new Error(`${where}: unsupported weight data type ${ds.dtype}`);
  return tf.tensor(Float32Array.from(v as ArrayLike<number>), ds.shape ?? []);
}

function dataset(g: H5Group, path: string, source: string): H5Dataset {
  const e = quiet(() => g.get(path));
  if (!(e instanceof h5wasm.Dataset)) throw new Error(`${source}: missing weight dataset '${path}'`);
  return e;
}

/** Sets a layer's weights from tensors in Keras order, checking shapes; disposes the tensors. */
function assign(layer: tf.layers.Layer, values: tf.Tensor[], source: string): void {
  try {
    if (values.length !== layer.weights.length)
      throw new Error(`layer '${layer.name}' has ${layer.weights.length} weights, file has ${values.length}`);
    values.forEach((t, i) => {
      const want = layer.weights[i].shape;
      if (want.join() !== t.shape.join())
        throw new Error(
          `layer '${layer.name}' weight ${i}: shape [${t.shape}] in file, model needs [${want}]`,
        );
    });
    layer.setWeights(values);
  } catch (err: any) {
    throw new Error(`${source}: ${err.message}`);
  } finally {
    tf.dispose(values);
  }
}

/** Keras 2 `.h5` (model.save('x.h5')): returns the model with the file's weights. */
export async function loadKerasH5(bytes: Uint8Array, source: string): Promise<tf.LayersModel> {
  const { file, close } = await openH5(bytes, source);
  try {
    const configText = quiet(() =>
      file.attrs.model_config ? str(file.attrs.model_config.value) : undefined,
    );
    if (!configText)
      throw new Error(`${source}: no model_config attribute (a weights-only .h5 is not a model)`);
    let config: unknown;
    try {
      config = JSON.parse(configText);
    } catch {
      throw new Error(`${source}: model_config attribute is not valid JSON`);
    }
    const model = await modelFromKerasConfig(config, source);
    const root = quiet(() => file.get('model_weights'));
    if (!(root instanceof h5wasm.Group)) throw new Error(`${source}: no model_weights group`);
    for (const layer of model.layers) {
      if (layer.weights.length === 0) continue;
      const g = quiet(() => root.get(layer.name));
      if (!(g instanceof h5wasm.Group)) throw new Error(`${source}: no weights for layer '${layer.name}'`);
      const names = attrStrings(g, 'weight_names');
      assign(
        layer,
        names.map((n) => readTensor(dataset(g, n, source), `${source}:${n}`)),
        source,
      );
    }
    return model;
  } catch (err) {
    throw corrupt(err, source);
  } finally {
    close();
  }
}

/** Keras 3 weights file (model.weights.h5 inside a .keras zip) applied to a model built from config.json. */
export async function loadKeras3Weights(
  model: tf.LayersModel,
  bytes: Uint8Array,
  source: string,
  groups: Map<string, string> = new Map(),
): Promise<void> {
  const { file, close } = await openH5(bytes, source);
  try {
    for (const layer of model.layers) {
      if (layer.weights.length === 0) continue;
      // Keras 3's class-numbered group; the layer's own name as a fallback (older writers).
      const at = (name: string) => quiet(() => file.get(`layers/${name}/vars`));
      const g = at(groups.get(layer.name) ?? layer.name) ?? at(layer.name);
      if (!(g instanceof h5wasm.Group)) throw new Error(`${source}: no weights for layer '${layer.name}'`);
      const n = g.keys().length;
      const values: tf.Tensor[] = [];
      for (let i = 0; i < n; i++)
        values.push(readTensor(dataset(g, String(i), source), `${source}:${layer.name}/${i}`));
      assign(layer, values, source);
    }
  } catch (err) {
    throw corrupt(err, source);
  } finally {
    close();
  }
}
