/**
 * openModel on every kind of source: the ImageNet MobileNet (folder and model.json, metadata.json names,
 * logits found at conv_preds), a training run (three ways of naming it), a `convlens import` folder (its
 * labels and preset survive), a Keras .keras file, the --labels/--input-range/--preset overrides, and the
 * one-line errors for sources that are not image classifiers.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batchIterator } from '@convlens/core/data/batches';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { applyPreprocess } from '@convlens/core/preprocess/presets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/load.ts';
import { saveModel } from '../src/io/model-io.ts';
import { readImage } from '../src/io/png.ts';
import { type OpenedModel, openModel } from '../src/open/open-model.ts';
import { runCli } from './cli-helpers.ts';

const SHARED = join(import.meta.dirname, '../../../../shared');
const MOBILENET = join(SHARED, 'models/mobilenet_v1_0.25_224');
const COFFEE = join(SHARED, 'images/coffee.png');
const DATA = join(SHARED, 'datasets');
const KERAS = join(import.meta.dirname, 'fixtures/keras3/branchy.keras');

let dir: string;
let run: string;

/** Opens, collecting the notices it logs. */
async function open(source: string, o: Parameters<typeof openModel>[1] = {}) {
  const notes: string[] = [];
  const m = await openModel(source, { ...o, log: (s) => notes.push(s) });
  return { m, notes };
}

/** The error openModel throws for `source`, asserting that it is one line. */
async function failure(source: string, o: Parameters<typeof openModel>[1] = {}): Promise<string> {
  const before = tf.memory().numTensors;
  const err = await openModel(source, o).then(
    (m) => {
      m.dispose();
      return new Error('opened');
    },
    (e: Error) => e,
  );
  expect(err.message).not.toBe('opened');
  expect(err.message.split('\n')).toHaveLength(1);
  // A model loaded before the problem was found is freed, not leaked.
  expect(tf.memory().numTensors).toBe(before);
  return err.message;
}

/** Model input for coffee.png as `m` expects it. */
async function coffeeInput(m: OpenedModel): Promise<tf.Tensor4D> {
  const [h, w, c] = m.inputShape;
  const img = await readImage(COFFEE, { height: h, width: w, channels: c as 3, resize: m.preprocess.resize });
  return tf.tensor4d(applyPreprocess(m.preprocess, img.pixels, c), [1, h, w, c]);
}

beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'convlens-open-model-'));
  // A run trained with per-pixel standardization, on a dataset with class names.
  run = join(dir, 'run');
  const r = await runCli([
    'train',
    '--model',
    'cnn1',
    '--dataset',
    'fashion-mnist',
    '--data-dir',
    DATA,
    '--no-download',
    '--limit',
    '256',
    '--val-split',
    '0.02',
    '--epochs',
    '1',
    '--batch-size',
    '64',
    '--standardize',
    '--out',
    run,
  ]);
  if (r.code !== 0) throw new Error(`training the fixture run failed: ${r.stderr}`);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('the ImageNet MobileNet', () => {
  it('opens as its folder and as its model.json: 1000 names, scale-1-1 with a notice, crop, logits at conv_preds', async () => {
    for (const source of [MOBILENET, join(MOBILENET, 'model.json')]) {
      const { m, notes } = await open(source);
      try {
        expect(m.kind).toBe('tfjs');
        expect(m.inputShape).toEqual([224, 224, 3]);
        expect(m.numClasses).toBe(1000);
        expect(m.classNames).toHaveLength(1000);
        expect(m.named).toBe(true);
        expect(m.classNames[967]).toBe('espresso');
        expect(m.classNames[285]).toBe('Egyptian cat');
        expect(m.preprocess.preset).toBe('scale-1-1');
        expect(m.preprocess.resize).toBe('crop');
        expect(m.graph).toBe(false);
        expect(m.modelDir).toBe(MOBILENET);
        expect(m.run).toBeUndefined();
        // No preprocess.json beside it: the guess is said out loud, naming the source.
        expect(notes.filter((n) => n.includes('records no preprocessing'))).toHaveLength(1);
        expect(notes[0]).toContain(source);
        expect(m.scores.kind).toBe('logits');
        expect(m.scores.from).toBe('conv_preds');
      } finally {
        m.dispose();
      }
    }
  });

  it('softmax of its logits is its prediction on coffee.png (to 1e-6), and the top class is espresso', async () => {
    const { m } = await open(MOBILENET);
    const before = tf.memory().numTensors;
    const x = await coffeeInput(m);
    // The input is 2·pixel − 1: within [-1, 1] and using most of it.
    const [lo, hi] = tf.tidy(() => [x.min().dataSync()[0], x.max().dataSync()[0]]);
    expect(lo).toBeGreaterThanOrEqual(-1);
    expect(hi).toBeLessThanOrEqual(1);
    expect(hi - lo).toBeGreaterThan(1.5);
    const [probs, fromLogits, logits] = tf.tidy(() => {
      const p = (m.model.predict(x) as tf.Tensor).reshape([-1]);
      const l = (m.scores.net.predict(x) as tf.Tensor).reshape([-1]);
      return [p.dataSync(), tf.softmax(l).dataSync(), l.dataSync()];
    });
    x.dispose();
    expect(probs).toHaveLength(1000);
    expect(logits).toHaveLength(1000);
    // Logits are not probabilities: they do not sum to 1 and some are negative.
    expect(Math.min(...logits)).toBeLessThan(0);
    let maxDiff = 0;
    for (let i = 0; i < 1000; i++) maxDiff = Math.max(maxDiff, Math.abs(probs[i] - fromLogits[i]));
    expect(maxDiff).toBeLessThan(1e-6);
    const top = probs.indexOf(Math.max(...probs));
    expect(m.classNames[top]).toBe('espresso');
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});

describe('a training run', () => {
  it('opens as RUN, RUN/model and RUN/model/model.json: the run, its class names, per-pixel preprocessing', async () => {
    for (const source of [run, join(run, 'model'), join(run, 'model', 'model.json')]) {
      const { m, notes } = await open(source);
      try {
        expect(m.kind).toBe('run');
        expect(m.run?.dir).toBe(run);
        expect(m.run?.config.dataset).toBe('fashion-mnist');
        expect(m.inputShape).toEqual([28, 28, 1]);
        expect(m.numClasses).toBe(10);
        expect(m.named).toBe(true);
        expect(m.classNames[0]).toBe('T-shirt/top');
        expect(m.classNames[9]).toBe('Ankle boot');
        expect(m.preprocess.preset).toBe('per-pixel');
        expect(m.preprocess.standardizer?.mean).toHaveLength(784);
        expect(m.preprocess.resize).toBe('fill');
        expect(m.scores.kind).toBe('logits');
        expect(m.modelDir).toBe(join(run, 'model'));
        expect(notes).toEqual([]);
      } finally {
        m.dispose();
      }
    }
  });

  it("feeds data exactly as training did: batchIterator with the model's preprocessing = the run's standardizer", async () => {
    const { m } = await open(run);
    const test = (await loadDataset('fashion-mnist', { dataDir: DATA, download: false, train: false })).test;
    const idx = [0, 1, 2];
    const viaPreprocess = batchIterator(test, idx, 3, { preprocess: m.preprocess }).next().value!.x;
    const viaRun = batchIterator(test, idx, 3, {
      scaling: 'standardize',
      standardizer: m.run!.standardizer,
    }).next().value!.x;
    expect(viaPreprocess.length).toBe(3 * 784);
    let maxDiff = 0;
    for (let i = 0; i < viaRun.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs(viaPreprocess[i] - viaRun[i]));
    expect(maxDiff).toBeLessThan(1e-5);
    // Standardized, not [0,1]: a pixel with mean ≈ 0 and a small std goes far above 1.
    expect(Math.max(...viaPreprocess)).toBeGreaterThan(2);
    m.dispose();
  });
});

describe('a folder written by convlens import', () => {
  let imported: string;
  let relabelled: string;
  const names = Array.from({ length: 1000 }, (_, i) => `thing ${i}`);

  beforeAll(async () => {
    imported = join(dir, 'imported');
    const a = await runCli(['import', MOBILENET, '--out', imported, '--preset', 'scale-1-1']);
    expect(a.code, a.stderr).toBe(0);
    const labels = join(dir, 'names.txt');
    await writeFile(labels, `${names.join('\n')}\n`);
    relabelled = join(dir, 'relabelled');
    const b = await runCli([
      'import',
      MOBILENET,
      '--out',
      relabelled,
      '--preset',
      'scale-1-1',
      '--labels',
      labels,
    ]);
    expect(b.code, b.stderr).toBe(0);
  });

  it('keeps --labels: the folder and its model.json both open with those names and the preset, no notice', async () => {
    for (const source of [relabelled, join(relabelled, 'model.json')]) {
      const { m, notes } = await open(source);
      try {
        expect(m.kind).toBe('imported');
        expect(m.named).toBe(true);
        expect(m.classNames).toEqual(names);
        expect(m.preprocess.preset).toBe('scale-1-1');
        expect(m.preprocess.resize).toBe('crop');
        expect(m.scores.from).toBe('conv_preds');
        expect(m.modelDir).toBe(relabelled);
        expect(notes).toEqual([]);
      } finally {
        m.dispose();
      }
    }
  });

  it("keeps metadata.json's names when no --labels is given", async () => {
    for (const source of [imported, join(imported, 'model.json')]) {
      const { m, notes } = await open(source);
      expect(m.kind).toBe('imported');
      expect(m.classNames[967]).toBe('espresso');
      expect(m.classNames).toHaveLength(1000);
      expect(m.preprocess.preset).toBe('scale-1-1');
      expect(notes).toEqual([]);
      m.dispose();
    }
  });

  it('gives the same prediction as the original on coffee.png', async () => {
    const { m: a } = await open(MOBILENET);
    const { m: b } = await open(relabelled);
    const x = await coffeeInput(b);
    const [pa, pb] = tf.tidy(() => [
      (a.model.predict(x) as tf.Tensor).dataSync(),
      (b.model.predict(x) as tf.Tensor).dataSync(),
    ]);
    x.dispose();
    expect(pb[967]).toBeCloseTo(pa[967], 6);
    expect(b.classNames[pb.indexOf(Math.max(...pb))]).toBe('thing 967');
    a.dispose();
    b.dispose();
  });
});

describe('a Keras .keras file', () => {
  it('opens: geometry, index names, a preprocessing notice, logits before its softmax', async () => {
    const { m, notes } = await open(KERAS);
    expect(m.kind).toBe('keras-zip');
    expect(m.inputShape).toEqual([12, 12, 1]);
    expect(m.numClasses).toBe(5);
    expect(m.classNames).toEqual(['0', '1', '2', '3', '4']);
    expect(m.named).toBe(false);
    expect(m.preprocess.preset).toBe('scale01');
    expect(m.preprocess.resize).toBe('fill');
    expect(m.modelDir).toBeUndefined();
    expect(notes.some((n) => n.includes('records no preprocessing'))).toBe(true);
    expect(m.scores.kind).toBe('logits');
    const x = tf.randomUniform([2, 12, 12, 1], 0, 1, 'float32', 3);
    const diff = tf.tidy(
      () =>
        tf
          .softmax(m.scores.net.predict(x) as tf.Tensor)
          .sub(m.model.predict(x) as tf.Tensor)
          .abs()
          .max()
          .dataSync()[0],
    );
    x.dispose();
    expect(diff).toBeLessThan(1e-6);
    m.dispose();
  });
});

describe('overrides', () => {
  it('--labels names the classes; a wrong count fails in one line naming the file', async () => {
    const labels = join(dir, 'five.json');
    await writeFile(labels, JSON.stringify({ labels: ['a', 'b', 'c', 'd', 'e'] }));
    const { m } = await open(KERAS, { labels });
    expect(m.classNames).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(m.named).toBe(true);
    m.dispose();
    // --labels beats a run's own names too.
    const ten = join(dir, 'ten.txt');
    await writeFile(ten, Array.from({ length: 10 }, (_, i) => `c${i}`).join('\n'));
    const { m: r } = await open(run, { labels: ten });
    expect(r.classNames[9]).toBe('c9');
    r.dispose();
    const wrong = await failure(KERAS, { labels: ten });
    expect(wrong).toContain(ten);
    expect(wrong).toMatch(/10 class names .* 5 outputs/);
  });

  it('--input-range and --preset replace the stored or guessed preprocessing', async () => {
    const { m, notes } = await open(KERAS, { inputRange: '0,255' });
    expect(m.preprocess.preset).toBe('range');
    expect(m.preprocess.range).toEqual([0, 255]);
    expect(notes).toEqual([]);
    m.dispose();
    const { m: s } = await open(KERAS, { inputRange: '-1,1' });
    expect(s.preprocess.preset).toBe('scale-1-1');
    s.dispose();
    const { m: c } = await open(MOBILENET, { preset: 'caffe', resize: 'fill' });
    expect(c.preprocess.preset).toBe('caffe');
    expect(c.preprocess.resize).toBe('fill');
    c.dispose();
    // A preset the model cannot take: one line.
    expect(await failure(KERAS, { preset: 'torch' })).toMatch(
      /branchy\.keras: preset torch needs an RGB model/,
    );
    expect(await failure(KERAS, { preset: 'range' })).toMatch(/--preset range needs --input-range/);
    expect(await failure(KERAS, { inputRange: '1,0' })).toMatch(/--input-range/);
  });
});

describe('sources that cannot be opened: one line naming the source', () => {
  it('a missing path', async () => {
    const p = join(dir, 'nothing-here');
    expect(await failure(p)).toBe(`${p}: model not found`);
  });

  it('.onnx and .pt files', async () => {
    const onnx = join(dir, 'net.onnx');
    const pt = join(dir, 'net.pt');
    await writeFile(onnx, 'x');
    await writeFile(pt, 'x');
    expect(await failure(onnx)).toMatch(new RegExp(`^${onnx}: not an ONNX model \\(`));
    expect(await failure(pt)).toMatch(new RegExp(`^${pt}: unsupported model format '.pt'`));
  });

  it('a folder with no model in it', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty);
    await writeFile(join(empty, 'notes.txt'), 'hello');
    const msg = await failure(empty);
    expect(msg.startsWith(empty)).toBe(true);
    expect(msg).toMatch(/no model/);
  });

  it('a model whose input is not an image', async () => {
    const dense = join(dir, 'dense');
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [10], units: 4, activation: 'relu' }),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    await saveModel(model, dense);
    model.dispose();
    for (const source of [dense, join(dense, 'model.json')]) {
      const msg = await failure(source);
      expect(msg).toMatch(new RegExp(`^${source}: the model's input \\[None,10\\] is not an image`));
    }
  });
});
