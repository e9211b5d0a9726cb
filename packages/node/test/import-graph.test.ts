/**
 * tfjs graph models (GraphDef JSON, as tensorflowjs_converter writes them): loaded from a folder or a
 * URL, imported and saved as a graph again, predicting and differentiating exactly like the layers
 * model they were built from; layer-based methods say plainly that a graph has no layers to pick.
 */

import { mkdtemp, readFile, rm, stat, truncate } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { getExplainMethod } from '@convlens/core/methods/explain/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importModel } from '../src/import/import-model.ts';
import { loadModel } from '../src/io/model-io.ts';
import { errorLines, runCli } from './cli-helpers.ts';
import { smallLayersModel, writeGraphModel } from './graph-fixture.ts';

let dir: string;
let server: Server;
let base: string;
let layers: tf.LayersModel;
let x: tf.Tensor4D;

beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'convlens-graph-'));
  layers = smallLayersModel([8, 8, 3]);
  await writeGraphModel(layers, join(dir, 'graph'));
  x = tf.randomUniform([3, 8, 8, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
  server = createServer(async (req, res) => {
    try {
      const body = await readFile(join(dir, new URL(req.url ?? '/', 'http://x').pathname));
      res.writeHead(200).end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  server.close();
  x.dispose();
  layers.dispose();
  await rm(dir, { recursive: true, force: true });
});

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe('graph models', () => {
  it('predict and differentiate like the layers model they encode (folder and URL)', async () => {
    for (const source of [join(dir, 'graph'), `${base}/graph/model.json`]) {
      const { model } = await importModel(source);
      const [a, b] = [layers.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor];
      expect(maxDiff(a, b), source).toBeLessThan(1e-6);
      // Saliency goes through the graph's ops on the gradient tape. A graph model has no logits to cut at,
      // so it is the gradient of the layers model's probabilities (max |∂p_c/∂x| over channels); the
      // layers model itself explains its logits (its fused softmax bypassed), which differ.
      const expected = tf.tidy(() => {
        const g = tf.grad((inp: tf.Tensor) =>
          tf.sum(tf.mul(layers.apply(inp) as tf.Tensor2D, tf.oneHot([0, 1, 2], 3))),
        )(x);
        return tf.max(tf.abs(g), 3).arraySync() as number[][][];
      });
      const s1 = await getExplainMethod('saliency').explain({ model: layers, input: x, target: [0, 1, 2] });
      const s2 = await getExplainMethod('saliency').explain({ model, input: x, target: [0, 1, 2] });
      for (let i = 0; i < 3; i++) {
        const want = expected[i].flat();
        expect(Math.max(...want)).toBeGreaterThan(0);
        for (let p = 0; p < 64; p++) expect(s2.maps[i][p]).toBeCloseTo(want[p], 6);
        expect(Math.max(...Array.from(s1.maps[i], (v, p) => Math.abs(v - want[p])))).toBeGreaterThan(1e-4);
      }
      tf.dispose([a, b]);
      model.dispose();
    }
  });

  it('layer-based methods report that a graph has no layer to pick', async () => {
    const { model } = await loadModel(join(dir, 'graph'));
    await expect(getExplainMethod('gradcam').explain({ model, input: x, target: 0 })).rejects.toThrow(
      /has no layer with a spatial output/,
    );
    model.dispose();
  });

  it('convlens import writes the graph as a graph model that loads back identically', async () => {
    const out = join(dir, 'imported');
    const r = await runCli(['import', join(dir, 'graph'), '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(await readFile(join(out, 'model.json'), 'utf8'));
    expect(json.format).toBe('graph-model');
    expect(JSON.parse(await readFile(join(out, 'preprocess.json'), 'utf8')).preset).toBe('scale01');
    const { model } = await loadModel(out);
    const [a, b] = [layers.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor];
    expect(maxDiff(a, b)).toBeLessThan(1e-6);
    tf.dispose([a, b]);
    model.dispose();
  }, 60_000);

  it('a short shard is an error naming the file; nothing is written', async () => {
    const bad = join(dir, 'graph-short');
    await writeGraphModel(layers, bad);
    await truncate(join(bad, 'group1-shard1of1.bin'), 10);
    const out = join(dir, 'nope');
    const r = await runCli(['import', bad, '--out', out]);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([
      expect.stringMatching(
        /^convlens: .*graph-short\/group1-shard1of1\.bin: weight shards hold 10 bytes but the manifest needs \d+$/,
      ),
    ]);
    await expect(stat(out)).rejects.toThrow();
  }, 60_000);
});
