/**
 * tfjs layers import: the ImageNet MobileNets give espresso on coffee.png, save → load is exact, http(s)
 * loading from a local server matches the folder, and short/missing shards are named errors.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat, truncate, unlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { applyPreprocess } from '@convlens/core/preprocess/presets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importModel, inputGeometry } from '../src/import/import-model.ts';
import { loadImported, saveImported } from '../src/import/save-imported.ts';
import { readImage } from '../src/io/png.ts';

const MODELS = '/work/shared/models';
const COFFEE = '/work/shared/images/coffee.png';
let dir: string;
let server: Server;
let base: string;

beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'convlens-import-'));
  // Static file server on 127.0.0.1 over `dir` (what a model URL points at).
  server = createServer(async (req, res) => {
    try {
      const body = await readFile(
        join(dir, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)),
      );
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
  await rm(dir, { recursive: true, force: true });
});

async function top1(
  model: tf.LayersModel,
  classNames: string[],
): Promise<{ name: string; p: number; probs: Float32Array }> {
  const g = inputGeometry(model);
  const img = await readImage(COFFEE, { width: g.width, height: g.height, channels: g.channels });
  const x = applyPreprocess({ preset: 'scale-1-1' }, img.pixels, 3);
  const probs = tf.tidy(() =>
    (model.predict(tf.tensor4d(x, [1, g.height, g.width, 3])) as tf.Tensor).dataSync(),
  ) as Float32Array;
  let best = 0;
  for (let i = 1; i < probs.length; i++) if (probs[i] > probs[best]) best = i;
  return { name: classNames[best], p: probs[best], probs };
}

describe('tfjs layers import', () => {
  for (const name of ['mobilenet_v1_0.25_224', 'mobilenet_v1_0.75_224']) {
    it(`${name} loads with its labels and calls coffee.png espresso; save → load is exact`, async () => {
      const { model, classNames } = await importModel(join(MODELS, name));
      expect(classNames).toHaveLength(1000);
      const a = await top1(model, classNames ?? []);
      expect(a.name).toBe('espresso');
      const out = join(dir, `saved-${name}`);
      await saveImported(model, out, { preset: 'scale-1-1', classNames });
      const back = await loadImported(out);
      expect(back.preprocess).toEqual({ preset: 'scale-1-1', classNames });
      const b = await top1(back.model, classNames ?? []);
      expect([...b.probs]).toEqual([...a.probs]);
      model.dispose();
      back.model.dispose();
    }, 60_000);
  }

  it('loads the same model over http from a local server, labels from metadata.json', async () => {
    await cp(join(MODELS, 'mobilenet_v1_0.25_224'), join(dir, 'mn'), { recursive: true });
    const local = await importModel(join(dir, 'mn'));
    const remote = await importModel(`${base}/mn/model.json`);
    expect(remote.kind).toBe('tfjs-url');
    expect(remote.classNames).toEqual(local.classNames);
    const a = await top1(local.model, local.classNames ?? []);
    const b = await top1(remote.model, remote.classNames ?? []);
    expect([...b.probs]).toEqual([...a.probs]);
    local.model.dispose();
    remote.model.dispose();
  }, 60_000);

  it('names a short or missing shard, locally and over http', async () => {
    await cp(join(MODELS, 'mobilenet_v1_0.25_224'), join(dir, 'short'), { recursive: true });
    const shard = join(dir, 'short', 'group3-shard1of1');
    await truncate(shard, (await stat(shard)).size - 4);
    await expect(importModel(join(dir, 'short'))).rejects.toThrow(
      /group3-shard1of1: weight shards hold \d+ bytes but the manifest needs \d+/,
    );
    await expect(importModel(`${base}/short/`)).rejects.toThrow(
      /\/short\/group3-shard1of1: weight shards hold/,
    );
    await unlink(shard);
    await expect(importModel(join(dir, 'short'))).rejects.toThrow(/group3-shard1of1: missing weight shard/);
    await expect(importModel(`${base}/short/model.json`)).rejects.toThrow(/group3-shard1of1: HTTP 404/);
    await expect(importModel(`${base}/nothing/model.json`)).rejects.toThrow(/nothing\/model.json: HTTP 404/);
  }, 60_000);

  it('does not leak tensors across repeated imports', async () => {
    const once = async () => (await importModel(join(MODELS, 'mobilenet_v1_0.25_224'))).model.dispose();
    await once();
    const before = tf.memory().numTensors;
    await once();
    await once();
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);

  it('CLI: a short shard exits 1 with one line naming the file and writes nothing', async () => {
    const out = join(dir, 'cli-out');
    const r = await promisify(execFile)(
      'node',
      ['packages/node/bin/convlens.js', 'import', join(dir, 'short'), '--out', out],
      { cwd: join(import.meta.dirname, '../../..') },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (e) => ({ code: e.code as number, stderr: e.stderr as string }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^convlens: .*group3-shard1of1: missing weight shard/);
    await expect(stat(out)).rejects.toThrow();
  }, 60_000);
});
