/**
 * Transfer learning on an ImageFolder of Fashion-MNIST classes: a small base trained briefly here on other
 * classes, cut at a conv layer, new head trained on disk-cached features (the frozen part runs only in
 * epoch 1), optional fine-tuning; the saved model reproduces the reported validation accuracy.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanImageFolder, splitItems, streamBatches } from '../src/datasets/image-folder.ts';
import { loadImported, saveImported } from '../src/import/save-imported.ts';
import { accuracy, runTransfer, type TransferOptions } from '../src/transfer/transfer.ts';
import { errorLines, runCli } from './cli-helpers.ts';
import { fashionTest, writeImageFolder } from './transfer-fixture.ts';

let dir: string;
let opts: TransferOptions;

beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'convlens-transfer-'));
  // Base: a small CNN trained for one epoch on 2,000 test digits of the OTHER classes (0,2,3,4,6,9).
  const { images, labels } = await fashionTest();
  const keep: number[] = [];
  for (let i = 0; i < 5000 && keep.length < 2000; i++) if (![1, 5, 7, 8].includes(labels[i])) keep.push(i);
  const base = tf.sequential();
  base.add(
    tf.layers.conv2d({
      inputShape: [28, 28, 1],
      filters: 8,
      kernelSize: 3,
      activation: 'relu',
      name: 'c1',
      kernelInitializer: tf.initializers.heNormal({ seed: 1 }),
    }),
  );
  base.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'p1' }));
  base.add(
    tf.layers.conv2d({
      filters: 16,
      kernelSize: 3,
      activation: 'relu',
      name: 'c2',
      kernelInitializer: tf.initializers.heNormal({ seed: 2 }),
    }),
  );
  base.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'p2' }));
  base.add(tf.layers.flatten({ name: 'flat' }));
  base.add(
    tf.layers.dense({
      units: 10,
      activation: 'softmax',
      name: 'out',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
    }),
  );
  base.compile({ optimizer: tf.train.adam(0.003), loss: 'sparseCategoricalCrossentropy' });
  const x = tf.tidy(() =>
    tf.tensor4d(
      Float32Array.from(
        keep.flatMap((i) => [...images.subarray(i * 784, (i + 1) * 784)].map((v) => v / 255)),
      ),
      [keep.length, 28, 28, 1],
    ),
  );
  const y = tf.tensor1d(
    keep.map((i) => labels[i]),
    'float32',
  );
  await base.fit(x, y, { epochs: 1, batchSize: 64, verbose: 0 });
  tf.dispose([x, y]);
  await saveImported(base, join(dir, 'base'), { preset: 'scale01' });
  base.dispose();
  // Target: 3 unseen classes, 40 images each, from a different range of the test set.
  await writeImageFolder(join(dir, 'ds'), { trouser: 1, sandal: 5, bag: 8 }, 40);
  await writeFile(join(dir, 'ds', 'bag', 'broken.png'), 'not an image');
  opts = {
    base: join(dir, 'base'),
    freezeUntil: 'p2',
    head: 'gap',
    dataset: join(dir, 'ds'),
    out: join(dir, 'run'),
    epochs: 15,
    fineTuneEpochs: 0,
    batchSize: 16,
    lr: 0.01,
    valSplit: 0.25,
    seed: 1,
    onCorrupt: 'skip',
    cache: true,
    cacheDir: join(dir, 'cache'),
  };
}, 60_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('transfer learning', () => {
  it('learns the new classes from cached features; the frozen part runs only in epoch 1', async () => {
    const s = await runTransfer(opts);
    expect(s.classes).toEqual(['bag', 'sandal', 'trouser']);
    expect(s.skipped).toEqual([join(dir, 'ds', 'bag', 'broken.png')]);
    expect(s.featureShape).toEqual([5, 5, 16]);
    // Epoch 1 extracts every readable train + val image once; later epochs read the disk cache.
    expect(s.history[0].extractorImages).toBe(s.train + s.val - 1);
    for (const e of s.history.slice(1)) expect(e.extractorImages).toBe(0);
    const last = s.history.at(-1)!;
    expect(last.valAccuracy).toBeGreaterThan(0.75); // chance is 1/3
    // The saved end-to-end model reproduces the validation accuracy on the images themselves.
    const { model, preprocess } = await loadImported(join(opts.out, 'model'));
    expect(preprocess?.classNames).toEqual(s.classes);
    const folder = await scanImageFolder(opts.dataset);
    const { val } = splitItems(folder.items, opts.valSplit, opts.seed);
    const acc = await accuracy(
      model,
      streamBatches(val, {
        geometry: { height: 28, width: 28, channels: 1 },
        preprocess: { preset: 'scale01' },
        batchSize: 16,
        onCorrupt: 'skip',
      }),
      [28, 28, 1],
    );
    expect(acc).toBeCloseTo(last.valAccuracy, 6);
    model.dispose();
  }, 60_000);

  it('a second run reuses the disk cache from the start; --no-cache recomputes every epoch', async () => {
    const again = await runTransfer({ ...opts, out: join(dir, 'run2'), epochs: 2 });
    expect(again.history.map((e) => e.extractorImages)).toEqual([0, 0]);
    const nocache = await runTransfer({ ...opts, out: join(dir, 'run3'), epochs: 2, cache: false });
    expect(nocache.history.map((e) => e.extractorImages)).toEqual([120, 120]); // 121 files, 1 broken
  }, 60_000);

  it('keys the cache by content: an edited image under the same name is not served stale', async () => {
    const folder = await scanImageFolder(opts.dataset);
    const [a, b] = folder.items.filter((i) => i.label === 1);
    await copyFile(b.path, a.path); // same path, other pixels
    await utimes(a.path, new Date(), new Date(Date.now() + 5000));
    const s = await runTransfer({ ...opts, out: join(dir, 'run-edited'), epochs: 2 });
    expect(s.history[0].extractorImages).toBeGreaterThan(0);
    expect(s.history[1].extractorImages).toBe(0);
  }, 60_000);

  it('fine-tunes end to end after the head with a dense:N head', async () => {
    const s = await runTransfer({
      ...opts,
      out: join(dir, 'run4'),
      head: 'dense:16',
      epochs: 2,
      fineTuneEpochs: 1,
    });
    expect(s.history.map((e) => e.phase)).toEqual(['head', 'head', 'fine-tune']);
    expect(s.history[2].valAccuracy).toBeGreaterThan(0.6);
  }, 60_000);

  it('leaves no tensors behind across repeated runs', async () => {
    const run = (i: number) =>
      runTransfer({ ...opts, out: join(dir, `mem${i}`), epochs: 2, fineTuneEpochs: 1 });
    await run(0);
    const before = tf.memory().numTensors;
    await run(1);
    await run(2);
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);

  it('bad input: unknown layer, corrupt file with --on-corrupt fail; nothing written', async () => {
    await expect(runTransfer({ ...opts, out: join(dir, 'bad1'), freezeUntil: 'nope' })).rejects.toThrow(
      /--freeze-until: no layer 'nope'/,
    );
    await expect(
      runTransfer({ ...opts, out: join(dir, 'bad2'), onCorrupt: 'fail', cache: false }),
    ).rejects.toThrow(/bag\/broken\.png: not a readable image/);
    await expect(stat(join(dir, 'bad1'))).rejects.toThrow();
    await expect(stat(join(dir, 'bad2'))).rejects.toThrow();
  }, 60_000);

  it('CLI: a folder without class subfolders exits 1 with one line naming it, writing nothing', async () => {
    const flat = join(dir, 'flat');
    await mkdir(flat);
    await writeFile(join(flat, 'x.png'), 'x');
    const out = join(dir, 'cli-run');
    const args = [
      'packages/node/bin/convlens.js',
      'transfer',
      '--base',
      opts.base,
      '--freeze-until',
      'p2',
      '--dataset',
      flat,
      '--out',
      out,
    ];
    const r = await promisify(execFile)('node', args, { cwd: join(import.meta.dirname, '../../..') }).then(
      () => ({ code: 0, stderr: '' }),
      (e) => ({ code: e.code as number, stderr: e.stderr as string }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `convlens: ${flat}: needs at least 2 class subfolders (layout ROOT/<class>/<image>), found 0`,
    ]);
    await expect(stat(out)).rejects.toThrow();
  }, 60_000);

  it('CLI: `train --base` runs transfer learning as `transfer` does; misuse is one line', async () => {
    const out = join(dir, 'train-base');
    const r = await runCli([
      'train',
      '--base',
      opts.base,
      '--freeze-until',
      'p2',
      '--head',
      'gap',
      '--dataset',
      opts.dataset,
      '--epochs',
      '15',
      '--batch-size',
      '16',
      '--lr',
      '0.01',
      '--on-corrupt',
      'skip',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.classes).toEqual(['bag', 'sandal', 'trouser']);
    expect(s.history).toHaveLength(15);
    expect(s.history.at(-1).valAccuracy).toBeGreaterThan(0.6);
    await stat(join(out, 'model', 'model.json'));

    const bad = [
      [['--model', 'cnn1'], '--model does not apply with --base (the base model fixes it)'],
      [
        ['--freeze-until', 'p2', '--model', 'pw11', '--standardize'],
        '--model does not apply with --base (the base model fixes it)',
      ],
      [[], '--base needs --freeze-until LAYER (the last layer of the frozen part)'],
    ] as const;
    for (const [extra, message] of bad) {
      const e = await runCli([
        'train',
        '--base',
        opts.base,
        '--dataset',
        opts.dataset,
        ...extra,
        '--out',
        join(dir, 'nope'),
      ]);
      expect(e.code).toBe(1);
      expect(errorLines(e.stderr)).toEqual([`convlens: ${message}`]);
    }
    const e = await runCli(['train', '--freeze-until', 'p2', '--out', join(dir, 'nope')]);
    expect(errorLines(e.stderr)).toEqual(['convlens: --freeze-until needs --base']);
    await expect(stat(join(dir, 'nope'))).rejects.toThrow();
  }, 120_000);
});
