// The partial contract (tasks/partial.ts) and the shard resolver (tasks/shard.ts) without a model: the
// shard a Slurm array task or a Kubernetes Indexed Job pod is, canonical option hashes, which partials
// merge and which are refused (naming the partial), finished-shard detection, and finding the shard
// folders a scheduler's array tasks wrote.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkMergeable,
  findPartials,
  isFinished,
  type PartialEnvelope,
  partialKey,
  shardEnvelope,
  withEnvelope,
} from '../src/tasks/partial.ts';
import { resolveShard, shardFromEnv } from '../src/tasks/shard.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'convlens-shard-partial-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('shardFromEnv', () => {
  it('a Slurm array task: TASK_ID with COUNT, or offset into MIN..MAX', () => {
    expect(shardFromEnv({ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4' })).toEqual({
      index: 3,
      count: 4,
    });
    // --array=1-100: task 1 is the first shard of 100.
    expect(
      shardFromEnv({ SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '100' }),
    ).toEqual({ index: 0, count: 100 });
    // MIN..MAX wins over COUNT (a throttled --array=0-99%10 still has 100 tasks).
    expect(
      shardFromEnv({
        SLURM_ARRAY_TASK_ID: '99',
        SLURM_ARRAY_TASK_MIN: '0',
        SLURM_ARRAY_TASK_MAX: '99',
        SLURM_ARRAY_TASK_COUNT: '100',
      }),
    ).toEqual({ index: 99, count: 100 });
    expect(resolveShard('auto', { SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: '2' })).toEqual({
      index: 0,
      count: 2,
    });
    expect(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: '2' })).toThrow(/neither SLURM_ARRAY_TASK_MAX nor/);
    expect(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '4' })).toThrow(
      /SLURM_ARRAY_TASK_ID=4 is outside the 4 shards/,
    );
    expect(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: 'x', SLURM_ARRAY_TASK_COUNT: '4' })).toThrow(
      /SLURM_ARRAY_TASK_ID='x' is not a non-negative integer/,
    );
  });

  it('a Kubernetes Indexed Job pod: JOB_COMPLETION_INDEX with CONVLENS_SHARD_COUNT', () => {
    expect(shardFromEnv({ JOB_COMPLETION_INDEX: '7', CONVLENS_SHARD_COUNT: '8' })).toEqual({
      index: 7,
      count: 8,
    });
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: '0' })).toThrow(/CONVLENS_SHARD_COUNT .* is not/);
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: '8', CONVLENS_SHARD_COUNT: '8' })).toThrow(
      /JOB_COMPLETION_INDEX=8 is outside the 8 shards/,
    );
    expect(() => shardFromEnv({})).toThrow(/not inside a Slurm job array .* give --shard i\/n/);
    expect(resolveShard('2/5', {})).toEqual({ index: 1, count: 5 });
    expect(() => resolveShard('6/5', {})).toThrow(/--shard must be i\/n/);
  });
});

const key = (over: Partial<Parameters<typeof partialKey>[0]> = {}) =>
  partialKey({
    kind: 'stats',
    model: { name: 'tiny', fingerprint: 'aaaa0001' },
    dataset: { name: 'folder', fingerprint: 'dddd000000000001', images: 100 },
    options: { layers: ['conv1', 'conv2'], topK: 9, limit: undefined },
    ...over,
  });
const env = (e: PartialEnvelope, file: string) => ({ file, envelope: e });

describe('the partial envelope', () => {
  it('hashes options canonically: key order and undefined do not matter, values do', () => {
    const a = key();
    const b = key({ options: { topK: 9, layers: ['conv1', 'conv2'] } });
    expect(b.optionsHash).toBe(a.optionsHash);
    expect(a.optionsHash).toMatch(/^[0-9a-f]{16}$/);
    expect(key({ options: { layers: ['conv2', 'conv1'], topK: 9 } }).optionsHash).not.toBe(a.optionsHash);
    expect(key({ options: { layers: ['conv1', 'conv2'], topK: 8 } }).optionsHash).not.toBe(a.optionsHash);
    // Each shard's image range is core shardRange's: 100 images in 3 shards → 33, 33, 34.
    expect([0, 1, 2].map((i) => shardEnvelope(a, { index: i, count: 3 }).ranges[0])).toEqual([
      [0, 33],
      [33, 66],
      [66, 100],
    ]);
  });

  it('merges disjoint shards of one key and refuses anything else, naming the partial', () => {
    const k = key();
    const s = (i: number, kk = k) => shardEnvelope(kk, { index: i, count: 3 });
    const all = checkMergeable([env(s(2), 'p/s3'), env(s(0), 'p/s1'), env(s(1), 'p/s2')]);
    expect([all.shards, all.ranges]).toEqual([
      [0, 1, 2],
      [
        [0, 33],
        [33, 66],
        [66, 100],
      ],
    ]);
    const refuse = (parts: ReturnType<typeof env>[], re: RegExp, allowMissing = false) =>
      expect(() => checkMergeable(parts, { allowMissing })).toThrow(re);
    refuse(
      [env(s(0), 'p/s1'), env(s(1, key({ model: { name: 'tiny', fingerprint: 'bbbb0002' } })), 'q/s2')],
      /^q\/s2: cannot merge: another model \(tiny bbbb0002 vs tiny aaaa0001 in p\/s1\)$/,
    );
    refuse(
      [
        env(s(0), 'p/s1'),
        env(s(1, key({ dataset: { name: 'folder', fingerprint: 'dddd2', images: 100 } })), 'q/s2'),
      ],
      /^q\/s2: cannot merge: another dataset \(folder, 100 images, fingerprint dddd2 vs/,
    );
    refuse(
      [env(s(0), 'p/s1'), env(s(1, key({ options: { layers: ['conv1', 'conv2'], topK: 4 } })), 'q/s2')],
      /^q\/s2: cannot merge: other options \(topK 4 vs 9; p\/s1 has the first\)$/,
    );
    refuse(
      [env(s(0), 'p/s1'), env(s(1, key({ kind: 'explain' })), 'q/s2')],
      /^q\/s2: cannot merge: an explain partial, not stats/,
    );
    refuse(
      [env(s(0), 'p/s1'), env(s(1), 'p/s2'), env(s(1), 'q/s2')],
      /^q\/s2: cannot merge: shard 2\/3 appears in both p\/s2 and q\/s2$/,
    );
    refuse(
      [env(s(0), 'p/s1'), env(shardEnvelope(k, { index: 1, count: 4 }), 'q/s2')],
      /^q\/s2: cannot merge: another sharding \(\/4 vs \/3 in p\/s1\)$/,
    );
    refuse(
      [env(s(0), 'p/s1'), env(s(2), 'p/s3')],
      /cannot merge: 1 of 3 shards missing \(shard 2\/3; the first is images 33–65\)/,
    );
    // An intermediate merge of a tree of merges is allowed, and merges again with the rest.
    const part = checkMergeable([env(s(0), 'p/s1'), env(s(2), 'p/s3')], { allowMissing: true });
    expect(part.shards).toEqual([0, 2]);
    expect(checkMergeable([env(part, 'm'), env(s(1), 'p/s2')]).shards).toEqual([0, 1, 2]);
  });

  it('isFinished: only the same kind, model, dataset, options and shard', async () => {
    const k = key();
    const dir = join(root, 'done');
    await mkdir(dir);
    await writeFile(
      join(dir, 'partial.json'),
      JSON.stringify(withEnvelope({ some: 'result' }, shardEnvelope(k, { index: 1, count: 3 }))),
    );
    expect(await isFinished(dir, k, { index: 1, count: 3 })).toBe(true);
    expect(await isFinished(dir, k, { index: 0, count: 3 })).toBe(false);
    expect(await isFinished(dir, k, { index: 1, count: 4 })).toBe(false);
    expect(await isFinished(dir, key({ options: { topK: 3 } }), { index: 1, count: 3 })).toBe(false);
    expect(await isFinished(join(root, 'absent'), k, { index: 1, count: 3 })).toBe(false);
    await writeFile(join(dir, 'partial.json'), '{"partial": {"format": "convlens-partial"'); // truncated
    expect(await isFinished(dir, k, { index: 1, count: 3 })).toBe(false);
  });

  it('findPartials: shard folders in natural order; temporary folders and logs passed over', async () => {
    const parts = join(root, 'parts');
    const k = key();
    for (const i of [0, 1, 2, 10, 11]) {
      await mkdir(join(parts, `shard-${i}`), { recursive: true });
      await writeFile(
        join(parts, `shard-${i}`, 'partial.json'),
        JSON.stringify(withEnvelope({}, shardEnvelope(k, { index: i, count: 12 }))),
      );
    }
    await mkdir(join(parts, '.shard-3.tmp-123-abcd'));
    await writeFile(join(parts, '.shard-3.tmp-123-abcd', 'partial.json'), '{');
    await mkdir(join(parts, 'logs'));
    await writeFile(join(parts, 'slurm-1_0.out'), 'log');
    const found = await findPartials([parts, join(parts, 'shard-2', 'partial.json')]);
    expect(found.map((f) => f.slice(parts.length + 1))).toEqual([
      'shard-0',
      'shard-1',
      'shard-2',
      'shard-10',
      'shard-11',
      'shard-2/partial.json',
    ]);
    await expect(findPartials([join(parts, 'logs')])).rejects.toThrow(
      /logs: no partial\.json in it or in its subfolders/,
    );
    await expect(findPartials([join(root, 'nothing')])).rejects.toThrow(/nothing: not found/);
  });
});
