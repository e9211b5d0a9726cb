// Sharded statistics under the partial contract: shards merged in one go, as a tree of merges and in
// another order give the one-pass result (counts, mode maps and top-k exactly, float64 sums to
// rounding; a tree and a flat fold in the same order bit for bit); a rerun of a failed shard writes a
// bit-identical partial.json; a finished shard is skipped, not recomputed; partials of another model,
// dataset or option set, a duplicated and a missing shard are refused naming the partial; the shared
// dataset fingerprint; the figures say how many images and shards they cover.
import { cp, mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx } from '@convlens/core/data/idx';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { classMeanMatrix } from '@convlens/core/stats/class-means';
import { type DatasetStats, statsFromJSON } from '@convlens/core/stats/dataset-stats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coverage } from '../src/figures/stats-render.ts';
import { datasetFingerprint } from '../src/open/dataset-fingerprint.ts';
import { type OpenedDataset, openDataset } from '../src/open/open-dataset.ts';
import { type OpenedModel, openModel } from '../src/open/open-model.ts';
import { mergeCommand } from '../src/tasks/merge.ts';
import { statsCommand } from '../src/tasks/stats.ts';
import { writeQuadrantFolder, writeTinyModel } from './shard-fixture.ts';

const N = 60;
let root: string;
let folder: string;
let m: OpenedModel;
let other: OpenedModel;
let d: OpenedDataset;
let listed: Uint8Array;
let listedLabels: Uint8Array;
const out = (s: string) => join(root, s);
const bytes = (p: string) => readFile(p);
const readStats = async (dir: string): Promise<DatasetStats> =>
  statsFromJSON(JSON.parse(await readFile(join(dir, 'partial.json'), 'utf8')));

function expectSameStats(a: DatasetStats, b: DatasetStats) {
  expect(b.count).toBe(a.count);
  a.layers.forEach((l, i) => {
    const k = b.layers[i];
    expect(k.means.counts).toEqual(l.means.counts);
    const p = classMeanMatrix(l.means);
    const q = classMeanMatrix(k.means);
    for (let j = 0; j < p.length; j++)
      expect(Math.abs(p[j] - q[j])).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(p[j])));
    if (l.modes) expect(Array.from(k.modes!.counts)).toEqual(Array.from(l.modes.counts));
    const top = (s: typeof l) => s.topk.entries.map((e) => e.map((v) => [v.image, v.label, v.value, v.box]));
    expect(top(k)).toEqual(top(l));
  });
}

const opts = () => ({ model: m, dataset: d, topK: 3, batchSize: 7, layers: ['conv1', 'conv2', 'logits'] });

beforeAll(async () => {
  await initBackend('wasm');
  root = await mkdtemp(join(tmpdir(), 'convlens-shard-stats-'));
  folder = out('folder');
  listed = await writeQuadrantFolder(folder, N);
  listedLabels = Uint8Array.from({ length: N }, (_, i) => Math.floor(i / (N / 4)));
  m = await openModel(await writeTinyModel(out('model'), 1), { preset: 'scale01' });
  other = await openModel(await writeTinyModel(out('model2'), 2), { preset: 'scale01' });
  d = await openDataset(folder, m);
  const before = tf.memory().numTensors;
  await statsCommand({ ...opts(), out: out('one') });
  for (const i of [0, 1, 2])
    await statsCommand({ ...opts(), shard: { index: i, count: 3 }, out: out(`parts/shard-${i}`) });
  expect(tf.memory().numTensors).toBe(before);
}, 180_000);

afterAll(async () => {
  m?.dispose();
  other?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('sharded stats', () => {
  it('one merge, a tree of merges and another order equal one pass', async () => {
    const flat = await mergeCommand([out('parts')], { out: out('flat') });
    expect([flat.kind, flat.shards, flat.images, flat.complete]).toEqual(['stats', '1,2,3/3', N, true]);
    await mergeCommand([out('parts/shard-0'), out('parts/shard-1')], { out: out('m01'), allowMissing: true });
    await mergeCommand([out('m01'), out('parts/shard-2')], { out: out('tree') });
    await mergeCommand([out('parts/shard-1'), out('parts/shard-2')], { out: out('m12'), allowMissing: true });
    await mergeCommand([out('m12'), out('parts/shard-0')], { out: out('tree2') });
    // Same fold order: the same bytes; any order and grouping: the one-pass statistics.
    expect((await bytes(out('tree/partial.json'))).equals(await bytes(out('flat/partial.json')))).toBe(true);
    const one = await readStats(out('one'));
    for (const r of ['flat', 'tree', 'tree2']) expectSameStats(one, await readStats(out(r)));
    // Not trivially equal: shards alone hold fewer images and other top-k lists.
    const s0 = await readStats(out('parts/shard-0'));
    expect(s0.count).toBe(20);
    // The figures (and index.json) say what the merged result covers.
    expect(coverage(await readStats(out('flat')))).toBe(`60 images of ${folder}, 3 shards merged`);
    expect(coverage(s0)).toBe(`20 images of ${folder}, shard 1 of 3 (partial)`);
    expect(coverage(one)).toBe(`60 images of ${folder}`);
    const index = JSON.parse(await readFile(out('flat/index.json'), 'utf8'));
    expect([index.images, index.shardCount, index.complete]).toEqual([60, 3, true]);
  }, 120_000);

  it('a failed shard reruns bit for bit; a finished one is skipped', async () => {
    const first = await bytes(out('parts/shard-1/partial.json'));
    await rm(out('parts/shard-1'), { recursive: true }); // as if the task had died
    await statsCommand({ ...opts(), shard: { index: 1, count: 3 }, out: out('parts/shard-1') });
    expect((await bytes(out('parts/shard-1/partial.json'))).equals(first)).toBe(true);
    const before = (await stat(out('parts/shard-1/partial.json'))).mtimeMs;
    const logs: string[] = [];
    const s = await statsCommand(
      { ...opts(), shard: { index: 1, count: 3 }, out: out('parts/shard-1') },
      { log: (l) => logs.push(l) },
    );
    expect(s.skipped).toBe(true);
    expect(s.images).toBe(20);
    expect(logs.join('\n')).toMatch(/shard 2\/3 is already finished in .*shard-1 .*not recomputed/);
    expect((await stat(out('parts/shard-1/partial.json'))).mtimeMs).toBe(before);
    // Other options are not the finished shard: recomputed (and written) again.
    const t = await statsCommand({ ...opts(), topK: 2, shard: { index: 1, count: 3 }, out: out('x-topk') });
    expect(t.skipped).toBeUndefined();
  }, 120_000);

  it('refuses another model, dataset or option set, a duplicated or a missing shard, naming the partial', async () => {
    await statsCommand({ ...opts(), model: other, shard: { index: 2, count: 3 }, out: out('x-model') });
    await statsCommand({ ...opts(), topK: 2, shard: { index: 2, count: 3 }, out: out('x-opts') });
    await statsCommand({ ...opts(), limit: 45, shard: { index: 2, count: 3 }, out: out('x-limit') });
    const merge = (paths: string[]) => mergeCommand(paths.map(out), { out: out('refused') });
    // The kind's own check speaks first (in its terms); the envelope's (tasks/partial.ts) backs it up.
    await expect(merge(['parts/shard-0', 'parts/shard-1', 'x-model'])).rejects.toThrow(
      /x-model: cannot merge statistics: different models \(tiny [0-9a-f]{8} vs tiny [0-9a-f]{8}\)/,
    );
    await expect(merge(['parts/shard-0', 'parts/shard-1', 'x-opts'])).rejects.toThrow(
      /x-opts: cannot merge statistics: different top-k \(k 3 vs 2\)/,
    );
    await expect(merge(['parts/shard-0', 'parts/shard-1', 'x-limit'])).rejects.toThrow(
      /x-limit: cannot merge statistics: different datasets \(.*, 60 images vs .*, 45 images\)/,
    );
    await expect(merge(['parts/shard-0', 'parts/shard-1', 'parts/shard-1'])).rejects.toThrow(
      /shard-1: cannot merge statistics: shard 2\/3 appears in both/,
    );
    await expect(merge(['parts/shard-0', 'parts/shard-2'])).rejects.toThrow(
      /cannot merge: 1 of 3 shards missing \(shard 2\/3; the first is images 20–39\); rerun them, or merge what is there with --allow-missing/,
    );
    await expect(stat(out('refused'))).rejects.toThrow(/ENOENT/);
  }, 120_000);

  it('the dataset fingerprint: files and labels, not modification times or where the folder is', async () => {
    const f0 = await datasetFingerprint(d);
    const copy = out('copy');
    await cp(folder, copy, { recursive: true });
    await utimes(join(copy, '0', '0000.png'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect(await datasetFingerprint(await openDataset(copy, m))).toBe(f0);
    const png = await bytes(join(folder, '0', '0000.png'));
    await writeFile(join(copy, '0', '0000.png'), Buffer.concat([png, Buffer.from([0])]));
    expect(await datasetFingerprint(await openDataset(copy, m))).not.toBe(f0);
    // IDX sets: the pixels themselves (one pixel changed, another fingerprint).
    const idx = async (dir: string, pixels: Uint8Array) => {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(encodeIdx(pixels, [N, 16, 16])));
      await writeFile(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(encodeIdx(listedLabels, [N])));
      return datasetFingerprint(await openDataset(dir, m));
    };
    const changed = listed.slice();
    changed[1000] ^= 1;
    const [a, b] = [await idx(out('idx-a'), listed), await idx(out('idx-b'), changed)];
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(b).not.toBe(a);
  }, 60_000);
});
