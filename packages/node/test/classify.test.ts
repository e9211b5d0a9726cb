// convlens classify: every method far above chance on pw11-run features of 600 MNIST digits and on
// MobileNet 0.25 features of Fashion-MNIST written as an image folder; folds and the test split are
// deterministic; a saved classifier runs on images through its model and refuses another model.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLASSIFY_METHODS } from '../src/classify/methods.ts';
import { type OpenedModel, openModel } from '../src/open/open-model.ts';
import { classifyFeatures } from '../src/tasks/classify.ts';
import { predictWithClassifier } from '../src/tasks/classify-predict.ts';
import { extractFeatures, openFeatureDataset } from '../src/tasks/features.ts';
import { trainPw11, writeFashionFolder } from './features-fixture.ts';

const SHARED = resolve(import.meta.dirname, '../../../../shared');
const DATASETS = join(SHARED, 'datasets');
const MOBILENET = join(SHARED, 'models/mobilenet_v1_0.25_224');

let root: string;
let run: OpenedModel;
let digits: string;

beforeAll(async () => {
  await initBackend('wasm');
  root = await mkdtemp(join(tmpdir(), 'convlens-classify-'));
  await trainPw11(DATASETS, join(root, 'run'));
  run = await openModel(join(root, 'run'));
  digits = join(root, 'digits');
  await extractFeatures({
    model: run,
    dataset: 'mnist',
    openDataset: { dataDir: DATASETS, split: 'test' },
    layer: 'dense1',
    limit: 600,
    out: digits,
  });
}, 120_000);

afterAll(async () => {
  run?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('classify on pw11 features of 600 MNIST digits', () => {
  it('every method is far above chance, on 2 folds and the held-out 20%', async () => {
    const tensors = tf.memory().numTensors;
    const seen: Record<string, number> = {};
    for (const method of CLASSIFY_METHODS) {
      // The forest (slowest to fit) is only tested on the held-out split, to keep the file short.
      const cv = method === 'forest' ? 0 : 2;
      const s = await classifyFeatures({ features: digits, method, cv });
      seen[method] = s.accuracy;
      expect(s.train + s.test).toBe(600);
      expect(s.test).toBe(120); // one split only: a stratified 20% made here
      if (cv) expect(s.cv!.accuracies).toHaveLength(cv);
      if (cv) expect(s.cv!.mean, method).toBeGreaterThan(0.6);
      expect(s.accuracy, method).toBeGreaterThan(0.6);
      expect(s.chance).toBeLessThan(0.2);
      expect(s.confusion.flat().reduce((a, b) => a + b, 0)).toBe(120);
    }
    expect(tf.memory().numTensors).toBe(tensors);
    // Seeded: the same folds and weights give the same accuracies.
    const again = await classifyFeatures({ features: digits, method: 'logreg', cv: 2 });
    expect(again.accuracy).toBe(seen.logreg);
  }, 120_000);
});

describe('classify on MobileNet 0.25 features of Fashion-MNIST as an image folder', () => {
  it('svm and logreg are far above chance; the saved classifier runs on the images and refuses another model', async () => {
    const folder = join(root, 'fashion');
    await writeFashionFolder(DATASETS, folder, 10);
    const m = await openModel(MOBILENET);
    try {
      const feats = join(root, 'mn');
      await extractFeatures({
        model: m,
        dataset: folder,
        layer: 'conv_pw_13_relu',
        out: feats,
        batchSize: 20,
      });
      for (const method of ['svm', 'logreg'] as const) {
        const s = await classifyFeatures({ features: feats, method, cv: 0, out: join(root, `c-${method}`) });
        expect(s.test).toBe(20);
        expect(s.accuracy, method).toBeGreaterThan(0.5); // chance 10%
      }
      const file = join(root, 'c-svm', 'classifier.json');
      const saved = JSON.parse(await readFile(file, 'utf8'));
      expect(saved).toMatchObject({ format: 'convlens-classifier', method: 'svm', layer: 'conv_pw_13_relu' });
      const p = await predictWithClassifier({
        classifier: file,
        model: m,
        dataset: await openFeatureDataset(folder, m),
      });
      expect(p.images).toBe(100);
      expect(p.scored).toBe(100);
      expect(p.accuracy).toBeGreaterThan(0.7); // 80% of these were its training rows

      await expect(
        predictWithClassifier({
          classifier: file,
          model: run,
          dataset: await openFeatureDataset(folder, run),
        }),
      ).rejects.toThrow(/its features come from another model .*fingerprint/);
      await expect(classifyFeatures({ features: feats, method: 'knn', model: run })).rejects.toThrow(
        /^features .* come from another model/,
      );
    } finally {
      m.dispose();
    }
  }, 120_000);
});
