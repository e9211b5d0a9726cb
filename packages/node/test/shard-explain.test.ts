// Batch explain under the partial contract: the maps of every image as .npy + overlay PNG and one
// index.json; three shards merged, a tree of merges and one pass give the same index and bit for bit
// the same files (each image is explained alone); a failed shard reruns bit for bit; `--shard auto`
// from a Slurm array task's environment (the one CLI run here).
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { parseNpy } from '@convlens/core/methods/actmax/npy';
import { getExplainMethod } from '@convlens/core/methods/explain/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenedDataset, openDataset } from '../src/open/open-dataset.ts';
import { type OpenedModel, openModel } from '../src/open/open-model.ts';
import { explainDataset, readExplainIndex } from '../src/tasks/explain-dataset.ts';
import { mergeCommand } from '../src/tasks/merge.ts';
import { runCli } from './cli-helpers.ts';
import { writeQuadrantFolder, writeTinyModel } from './shard-fixture.ts';

const N = 24;
let root: string;
let folder: string;
let modelDir: string;
let m: OpenedModel;
let d: OpenedDataset;
const out = (s: string) => join(root, s);
const methods = () => [getExplainMethod('gradcam'), getExplainMethod('saliency')];
const opts = () => ({ model: m, dataset: d, methods: methods(), layer: 'conv2', readSize: 5 });

/** Every file under dir (relative), sorted. */
async function tree(dir: string, sub = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, sub), { withFileTypes: true })) {
    const rel = sub ? `${sub}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await tree(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

/** The same map files, byte for byte. */
async function expectSameMaps(a: string, b: string) {
  const [fa, fb] = [await tree(join(a, 'maps')), await tree(join(b, 'maps'))];
  expect(fb).toEqual(fa);
  for (const f of fa) {
    const [x, y] = [await readFile(join(a, 'maps', f)), await readFile(join(b, 'maps', f))];
    expect(x.equals(y), f).toBe(true);
  }
}

beforeAll(async () => {
  await initBackend('wasm');
  root = await mkdtemp(join(tmpdir(), 'convlens-shard-explain-'));
  folder = out('folder');
  await writeQuadrantFolder(folder, N);
  modelDir = await writeTinyModel(out('model'));
  m = await openModel(modelDir, { preset: 'scale01' });
  d = await openDataset(folder, m);
  const before = tf.memory().numTensors;
  await explainDataset({ ...opts(), out: out('one') });
  for (const i of [0, 1, 2])
    await explainDataset({ ...opts(), shard: { index: i, count: 3 }, out: out(`parts/s${i}`) });
  expect(tf.memory().numTensors).toBe(before);
}, 180_000);

afterAll(async () => {
  m?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('batch explain', () => {
  it('writes a map per image and method (.npy raw, .png overlay) and one index', async () => {
    const index = await readExplainIndex(out('one'));
    expect([index.count, index.methods, index.complete]).toEqual([N, ['gradcam', 'saliency'], true]);
    const e = index.images[7];
    expect([e.position, e.index, e.source]).toEqual([7, 7, d.source(7).slice(folder.length + 1)]);
    expect(e.label).toBe(d.labels[7]);
    expect(e.target).toBe(e.top[0].class);
    expect(e.methods.map((x) => [x.method, x.layer])).toEqual([
      ['gradcam', 'conv2'],
      ['saliency', undefined],
    ]);
    // The .npy is the method's own map for this image alone.
    const npy = parseNpy(await readFile(join(out('one'), e.methods[0].npy!)));
    expect(npy.shape).toEqual([16, 16]);
    const chunk = await d.read([7]);
    const x = tf.tensor4d(
      Float32Array.from(chunk.set.images, (v) => v / 255),
      [1, 16, 16, 1],
    );
    const want = await getExplainMethod('gradcam').explain({
      model: m.model,
      input: x,
      target: [e.target],
      layer: 'conv2',
    });
    x.dispose();
    expect(Array.from(npy.data)).toEqual(Array.from(want.maps[0]));
    expect(Math.max(...want.maps[0])).toBeGreaterThan(0);
    const png = await stat(join(out('one'), e.methods[1].png!));
    expect(png.size).toBeGreaterThan(100);
  }, 60_000);

  it('three shards merged, as a tree, equal one pass: same index entries, same files', async () => {
    const flat = await mergeCommand([out('parts')], { out: out('flat') });
    expect([flat.kind, flat.shards, flat.images]).toEqual(['explain', '1,2,3/3', N]);
    await mergeCommand([out('parts/s2'), out('parts/s0')], { out: out('m02'), allowMissing: true });
    await mergeCommand([out('parts/s1'), out('m02')], { out: out('tree') });
    const one = await readExplainIndex(out('one'));
    for (const r of ['flat', 'tree']) {
      const got = await readExplainIndex(out(r));
      expect(got.images).toEqual(one.images);
      await expectSameMaps(out('one'), out(r));
    }
    expect(await readFile(out('tree/index.json'), 'utf8')).toBe(
      await readFile(out('flat/index.json'), 'utf8'),
    );
    expect((await readExplainIndex(out('parts/s1'))).images.map((e) => e.position)).toEqual([
      8, 9, 10, 11, 12, 13, 14, 15,
    ]);
  }, 60_000);

  it('a failed shard reruns bit for bit; --shard auto reads a Slurm array task, and a finished shard is skipped', async () => {
    const dir = out('parts/s1');
    const before = {
      partial: await readFile(join(dir, 'partial.json')),
      index: await readFile(join(dir, 'index.json')),
    };
    await rm(dir, { recursive: true });
    // The one CLI run: array task 1 of 3 (0-based) rewrites shard 2/3 exactly.
    const env = { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '2' };
    const args = ['explain', '--model', modelDir, '--preset', 'scale01', '--dataset', folder];
    const cli = [
      ...args,
      '--method',
      'gradcam,saliency',
      '--layer',
      'conv2',
      '--shard',
      'auto',
      '--out',
      dir,
    ];
    const r = await runCli([...cli, '--backend', 'wasm'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/explained 8 images \(shard 2\/3\) with gradcam, saliency/);
    expect((await readFile(join(dir, 'partial.json'))).equals(before.partial)).toBe(true);
    expect((await readFile(join(dir, 'index.json'))).equals(before.index)).toBe(true);
    // …and its maps are the one pass's files for those images, byte for byte.
    const mine = await tree(join(dir, 'maps'));
    expect(mine).toHaveLength(8 * 2 * 2);
    for (const f of mine)
      expect(
        (await readFile(join(dir, 'maps', f))).equals(await readFile(join(out('one'), 'maps', f))),
        f,
      ).toBe(true);
    const logs: string[] = [];
    const again = await explainDataset(
      { ...opts(), shard: { index: 1, count: 3 }, out: dir },
      { log: (l) => logs.push(l) },
    );
    expect([again.skipped, again.images]).toEqual([true, 8]);
    expect(logs.join('\n')).toMatch(/shard 2\/3 is already finished .* not recomputed/);
  }, 120_000);
});
