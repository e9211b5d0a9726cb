// Issue 21's remaining transfer pieces on a pw11 run (600 MNIST digits, one epoch): `evaluate
// --classifier` agrees with the classify-predict task it prints; transfer's --fine-tune-from leaves the
// layers below it bit-identical and trains the ones above; the last-block rule on pw11 and MobileNet;
// the zoo lab's --transfer section on 80 Fashion-MNIST images, far above chance.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatClassifierEvaluation } from '../src/cli/evaluate.ts';
import { importModel } from '../src/import/import-model.ts';
import { resolveSettings } from '../src/lab/settings.ts';
import { zooTransferStage } from '../src/lab/stage-zoo-transfer.ts';
import { lastBlockStart, lastSpatialLayer } from '../src/lab/transfer-compare.ts';
import type { LabContext } from '../src/lab/types.ts';
import { openModel } from '../src/open/open-model.ts';
import { classifyFeatures } from '../src/tasks/classify.ts';
import { predictWithClassifier, readClassifier } from '../src/tasks/classify-predict.ts';
import { extractFeatures, openFeatureDataset } from '../src/tasks/features.ts';
import { runTransfer } from '../src/transfer/transfer.ts';
import { runCli } from './cli-helpers.ts';
import { trainPw11, writeFashionFolder } from './features-fixture.ts';

const SHARED = resolve(import.meta.dirname, '../../../../shared');
const DATASETS = join(SHARED, 'datasets');
const MOBILENET = join(SHARED, 'models/mobilenet_v1_0.25_224');

let root: string;
let run: string;

beforeAll(async () => {
  await initBackend('wasm');
  root = await mkdtemp(join(tmpdir(), 'convlens-lab-transfer-'));
  run = join(root, 'run');
  await trainPw11(DATASETS, run);
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('evaluate --classifier', () => {
  it("prints the saved classifier's accuracy and confusion, as classify-predict computes them", async () => {
    const m = await openModel(run);
    const feats = join(root, 'feats');
    const clf = join(root, 'clf');
    let want: Awaited<ReturnType<typeof predictWithClassifier>>;
    try {
      await extractFeatures({
        model: m,
        dataset: 'mnist',
        openDataset: { dataDir: DATASETS, split: 'test' },
        layer: 'dense1',
        limit: 300,
        out: feats,
      });
      await classifyFeatures({ features: feats, method: 'logreg', cv: 0, out: clf });
      want = await predictWithClassifier({
        classifier: join(clf, 'classifier.json'),
        model: m,
        // As the CLI opens it: the run's own dataset name means its held-out images.
        dataset: await openFeatureDataset('mnist', m, { dataDir: DATASETS }),
        limit: 100,
      });
    } finally {
      m.dispose();
    }
    const args = ['evaluate', '--classifier', join(clf, 'classifier.json'), '--run', run];
    const data = ['--dataset', 'mnist', '--data-dir', DATASETS, '--limit', '100'];
    const r = await runCli([...args, ...data, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.count).toBe(100);
    expect(j.scored).toBe(100);
    expect(j.accuracy).toBe(want.accuracy);
    expect(j.accuracy).toBeGreaterThan(0.6); // chance 10%
    expect(j.confusion).toEqual(want.confusion);
    expect(j.perClass).toHaveLength(10);
    expect(j.misclassified).toHaveLength(Math.round(100 * (1 - j.accuracy)));
    // The text report from the same numbers (one CLI start is enough: they cost seconds each).
    const text = formatClassifierEvaluation(j);
    expect(text).toContain(`top-1 accuracy ${(100 * j.accuracy).toFixed(2)}%`);
    expect(text).toContain('confusion matrix');
    await expect(readClassifier(join(root, 'none.json'))).rejects.toThrow(
      /none\.json: cannot read classifier \(not found\)$/,
    );
  }, 120_000);
});

describe('fine-tuning the last block', () => {
  it('the last-block rule: pw11 from conv2, MobileNet from conv_dw_13', async () => {
    const pw = (await importModel(join(run, 'model', 'model.json'))).model;
    expect(lastSpatialLayer(pw)).toBe('pool1');
    expect(lastBlockStart(pw, 'pool1')).toBe('conv2');
    pw.dispose();
    const mn = (await importModel(MOBILENET)).model;
    expect(lastBlockStart(mn, 'conv_pw_13_relu')).toBe('conv_dw_13');
    expect(lastBlockStart(mn, 'conv_pw_5_relu')).toBe('conv_dw_5');
    mn.dispose();
  }, 60_000);

  it('--fine-tune-from keeps the layers below bit-identical and trains those from it on', async () => {
    const folder = join(root, 'fashion');
    await writeFashionFolder(DATASETS, folder, 4);
    const out = join(root, 'ft');
    const tensors = tf.memory().numTensors;
    await runTransfer({
      base: join(run, 'model', 'model.json'),
      freezeUntil: 'pool1',
      fineTuneFrom: 'conv2',
      head: 'gap',
      dataset: folder,
      out,
      epochs: 1,
      fineTuneEpochs: 1,
      batchSize: 8,
      lr: 1e-2,
      valSplit: 0.25,
      seed: 1,
      onCorrupt: 'fail',
      preset: 'scale01',
      cache: false,
    });
    expect(tf.memory().numTensors).toBe(tensors);
    const before = (await importModel(join(run, 'model', 'model.json'))).model;
    const after = (await importModel(join(out, 'model', 'model.json'))).model;
    const same = (name: string) =>
      before
        .getLayer(name)
        .getWeights()
        .every((w, i) =>
          tf.tidy(() => w.equal(after.getLayer(name).getWeights()[i]).all().dataSync()[0] === 1),
        );
    expect(same('conv1')).toBe(true);
    expect(same('conv2')).toBe(false);
    before.dispose();
    after.dispose();
    await expect(
      runTransfer({
        base: join(run, 'model', 'model.json'),
        freezeUntil: 'conv1',
        fineTuneFrom: 'conv2',
        head: 'gap',
        dataset: folder,
        out: join(root, 'ft2'),
        epochs: 1,
        fineTuneEpochs: 1,
        batchSize: 8,
        lr: 1e-2,
        valSplit: 0.25,
        seed: 1,
        onCorrupt: 'fail',
        preset: 'scale01',
        cache: false,
      }),
    ).rejects.toThrow(/^--fine-tune-from: no layer 'conv2' in the frozen part/);
  }, 120_000);
});

describe('lab --transfer (zoo)', () => {
  it('reuses the MNIST network on 80 Fashion-MNIST images: the classic rows above chance, every row measured', async () => {
    const out = join(root, 'lab');
    const settings = resolveSettings({ out, seed: 1, quick: true, backend: 'wasm', transfer: true });
    expect(settings.transfer).toBe('fashion-mnist');
    const ctx: LabContext = {
      out,
      runDir: run,
      settings,
      dataDir: DATASETS,
      download: false,
      log: () => {},
      stopRequested: () => false,
      results: {},
    };
    const r = await zooTransferStage(ctx);
    expect(r.omitted).toBeUndefined();
    const rows = r.numbers.rows as { method: string; accuracy: number | null }[];
    expect(rows.map((x) => x.method)).toEqual([
      'features + logreg',
      'features + svm',
      'features + knn',
      'features + forest',
      'features + mlp',
      'new head (transfer)',
      'fine-tuning the last block (conv2 on)',
      'fine-tuning all layers',
    ]);
    expect(r.numbers).toMatchObject({ images: 80, train: 64, test: 16, similarDomain: false });
    // chance 10%; the classic classifiers standardize the features, the transfer rows (16 test images) run.
    // (16 test images: one classifier alone may land at 4/16 by luck; five together do not.)
    const classic = rows.slice(0, 5).map((x) => x.accuracy!);
    expect(classic.reduce((a, b) => a + b, 0) / 5).toBeGreaterThan(0.25);
    expect(rows[0].accuracy).toBeGreaterThanOrEqual(0.25);
    for (const x of rows.slice(5)) expect(x.accuracy, x.method).toBeTypeOf('number');
    expect(r.notes!.join(' ')).toContain('different domain');
    const off = await zooTransferStage({
      ...ctx,
      settings: resolveSettings({ out, seed: 1, backend: 'wasm' }),
    });
    expect(off.omitted).toMatch(/--transfer/);
    await expect(readFile(join(out, 'transfer-scratch'))).rejects.toThrow(/ENOENT/);
  }, 180_000);
});
