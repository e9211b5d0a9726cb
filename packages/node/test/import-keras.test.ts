/**
 * Keras fixtures written with h5wasm from a known tfjs model, laid out as Keras writes them: .h5 (Keras 2:
 * model_config attribute, model_weights/<layer> groups with weight_names) and .keras (Keras 3 zip:
 * config.json + model.weights.h5 with layers/<layer>/vars/<i>). Imports must predict exactly like the original.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { zipSync } from 'fflate';
import h5wasm from 'h5wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importModel } from '../src/import/import-model.ts';

let dir: string;
let original: tf.LayersModel;
let input: tf.Tensor;

function smallModel(): tf.LayersModel {
  const m = tf.sequential();
  m.add(
    tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 3, kernelSize: 3, activation: 'relu', name: 'conv' }),
  );
  m.add(tf.layers.batchNormalization({ name: 'bn' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }));
  m.add(tf.layers.flatten({ name: 'flat' }));
  m.add(tf.layers.dense({ units: 4, activation: 'softmax', name: 'out' }));
  // Non-trivial BN statistics so a dropped or reordered weight changes predictions.
  const bn = m.getLayer('bn');
  bn.setWeights(
    bn.getWeights().map((w, i) => tf.randomUniform(w.shape, 0.5 + i * 0.1, 1.5, 'float32', 7 + i)),
  );
  return m;
}

/** Writes an HDF5 file with h5wasm (real fs in Node) and returns its bytes. */
async function writeH5(
  path: string,
  fill: (f: InstanceType<typeof h5wasm.File>) => void,
): Promise<Uint8Array> {
  await h5wasm.ready;
  const f = new h5wasm.File(path, 'w');
  fill(f);
  f.close();
  return new Uint8Array(await readFile(path));
}

beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'convlens-keras-'));
  original = smallModel();
  input = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 3);
});
afterAll(async () => {
  tf.dispose([input]);
  original.dispose();
  await rm(dir, { recursive: true, force: true });
});

const weighted = () => original.layers.filter((l) => l.weights.length > 0);

describe('Keras import', () => {
  it('.h5 with Keras 2 layout predicts exactly like the original', async () => {
    const path = join(dir, 'model.h5');
    await writeH5(path, (f) => {
      f.create_attribute('keras_version', '2.15.0');
      f.create_attribute('backend', 'tensorflow');
      f.create_attribute('model_config', JSON.stringify(original.toJSON(null, false)));
      const root = f.create_group('model_weights');
      root.create_attribute(
        'layer_names',
        original.layers.map((l) => l.name),
      );
      for (const layer of original.layers) {
        const g = root.create_group(layer.name);
        // Keras names weights '<layer>/<var>:0' and stores them at that path inside the layer's group.
        const names = layer.weights.map((w) => `${layer.name}/${w.name.split('/').pop()}:0`);
        g.create_attribute('weight_names', names.length ? names : ['']);
        if (!layer.weights.length) continue;
        const sub = g.create_group(layer.name);
        layer.getWeights().forEach((t, i) => {
          sub.create_dataset({
            name: names[i].split('/')[1],
            data: t.dataSync() as Float32Array,
            shape: t.shape,
          });
        });
      }
    });
    const { model, kind } = await importModel(path);
    expect(kind).toBe('keras-h5');
    const want = original.predict(input) as tf.Tensor;
    const got = model.predict(input) as tf.Tensor;
    expect([...(await got.data())]).toEqual([...(await want.data())]);
    tf.dispose([want, got]);
    model.dispose();
  });

  it('.keras zip (config.json + model.weights.h5, Keras 3 config fields) predicts like the original', async () => {
    const h5 = await writeH5(join(dir, 'w.h5'), (f) => {
      const layers = f.create_group('layers');
      for (const layer of weighted()) {
        const vars = layers.create_group(layer.name).create_group('vars');
        layer.getWeights().forEach((t, i) => {
          vars.create_dataset({ name: String(i), data: t.dataSync() as Float32Array, shape: t.shape });
        });
      }
    });
    // Keras 3 style: dtype policies as objects, module/registered_name keys.
    const config = JSON.parse(JSON.stringify(original.toJSON(null, false)));
    config.module = 'keras';
    for (const l of config.config.layers) {
      l.module = 'keras.layers';
      l.registered_name = null;
      l.config.dtype = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' } };
    }
    const zip = zipSync({
      'config.json': new TextEncoder().encode(JSON.stringify(config)),
      'metadata.json': new TextEncoder().encode('{"keras_version":"3.4.1"}'),
      'model.weights.h5': h5,
    });
    const path = join(dir, 'model.keras');
    await writeFile(path, zip);
    const { model } = await importModel(path);
    const want = original.predict(input) as tf.Tensor;
    const got = model.predict(input) as tf.Tensor;
    expect([...(await got.data())]).toEqual([...(await want.data())]);
    tf.dispose([want, got]);
    model.dispose();
  });

  it('names an unsupported layer class', async () => {
    const cfg = JSON.parse(JSON.stringify(original.toJSON(null, false)));
    cfg.config.layers[3].class_name = 'FancyAttention';
    const path = join(dir, 'bad-layer.h5');
    await writeH5(path, (f) => {
      f.create_attribute('model_config', JSON.stringify(cfg));
      f.create_group('model_weights');
    });
    await expect(importModel(path)).rejects.toThrow(
      /bad-layer\.h5: unsupported layer class 'FancyAttention'/,
    );
  });

  it('rejects a corrupt .h5 and a truncated .keras naming the file', async () => {
    const bad = join(dir, 'corrupt.h5');
    const good = await readFile(join(dir, 'model.h5'));
    await writeFile(bad, good.subarray(0, 600));
    await expect(importModel(bad)).rejects.toThrow(/corrupt\.h5: /);
    const txt = join(dir, 'text.h5');
    await writeFile(txt, 'hello');
    await expect(importModel(txt)).rejects.toThrow(/text\.h5: not an HDF5 file/);
    const zip = join(dir, 'cut.keras');
    await writeFile(zip, (await readFile(join(dir, 'model.keras'))).subarray(0, 100));
    await expect(importModel(zip)).rejects.toThrow(/cut\.keras: /);
  });

  it('does not leak tensors across repeated imports', async () => {
    const path = join(dir, 'model.h5');
    const run = async () => {
      const { model } = await importModel(path);
      model.dispose();
    };
    await run();
    const before = tf.memory().numTensors;
    await run();
    await run();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('CLI: a truncated .h5 exits 1 with one line (no HDF5 diagnostics) and writes nothing', async () => {
    const out = join(dir, 'cli-out');
    const args = ['packages/node/bin/convlens.js', 'import', join(dir, 'corrupt.h5'), '--out', out];
    const r = await promisify(execFile)('node', args, { cwd: join(import.meta.dirname, '../../..') }).then(
      () => ({ code: 0, stderr: '' }),
      (e) => ({ code: e.code as number, stderr: e.stderr as string }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `convlens: ${join(dir, 'corrupt.h5')}: corrupt or truncated HDF5 file (cannot read its superblock)`,
    ]);
    await expect(stat(out)).rejects.toThrow();
  }, 60_000);
});
