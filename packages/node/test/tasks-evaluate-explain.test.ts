// evaluate, explain and faithfulness on any model and any image data: the ImageNet MobileNet 0.25 on a
// folder of three photos at odd sizes in class folders named as ImageNet classes (top-1/top-5 checked
// against model.predict on the same photos, computed here independently), class names in explain's
// output, and bad folders failing in one line with nothing written (on a small Keras model).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { getExplainMethod } from '@convlens/core/methods/explain/registry';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImage } from '../src/io/png.ts';
import { openDataset } from '../src/open/open-dataset.ts';
import { type OpenedModel, openModel } from '../src/open/open-model.ts';
import { evaluate } from '../src/tasks/evaluate.ts';
import { faithfulness } from '../src/tasks/faithfulness.ts';
import { errorLines, runCli } from './cli-helpers.ts';

const SHARED = resolve(import.meta.dirname, '../../../../shared');
const MODEL = join(SHARED, 'models/mobilenet_v1_0.25_224');
const IMAGES = join(SHARED, 'images');
const KERAS = resolve(import.meta.dirname, 'fixtures/keras3/branchy.keras');
const have = existsSync(join(MODEL, 'model.json')) && existsSync(join(IMAGES, 'coffee.png'));

/** Class folder, photo, odd size the photo is stretched to (the model crops the centre back to 224). */
const PHOTOS: [string, string, number, number][] = [
  ['espresso', 'coffee', 301, 257],
  ['Egyptian_cat', 'chelsea', 350, 211],
  ['suit', 'astronaut', 199, 333],
  // The same cat again: 'tiger cat' is one of its lower guesses, so top-5 counts it and top-1 does not.
  ['tiger_cat', 'chelsea', 260, 300],
];

let tmp: string;
let folder: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'convlens-tasks-'));
  folder = join(tmp, 'photos');
  if (!have) return;
  for (const [cls, photo, w, h] of PHOTOS) {
    await mkdir(join(folder, cls), { recursive: true });
    await sharp(join(IMAGES, `${photo}.png`))
      .resize(w, h, { fit: 'fill' })
      .jpeg({ quality: 95 })
      .toFile(join(folder, cls, `${photo}.jpg`));
  }
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

describe.skipIf(!have)('MobileNet 0.25 on a folder of photos', () => {
  let model: OpenedModel;
  let labels: string[];
  /** Per photo (folder order: Egyptian_cat, espresso, suit, tiger_cat): true class, its rank, top class. */
  const expected: { label: number; rank: number; top1: number }[] = [];

  beforeAll(async () => {
    await initBackend('wasm');
    model = await openModel(MODEL);
    labels = JSON.parse(await readFile(join(MODEL, 'metadata.json'), 'utf8')).labels;
    // Independently of the dataset opener, batching and the task: decode, crop, scale to [-1, 1], predict.
    for (const [cls, photo] of [...PHOTOS].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const img = await readImage(join(folder, cls, `${photo}.jpg`), {
        width: 224,
        height: 224,
        channels: 3,
        resize: 'crop',
      });
      const p = tf.tidy(() => {
        const x = tf.sub(tf.mul(tf.tensor4d(img.pixels, [1, 224, 224, 3]), 2), 1);
        return (model.model.predict(x) as tf.Tensor).dataSync();
      });
      const label = labels.findIndex((l) => l.split(',')[0].replace(/ /g, '_') === cls);
      const rank = [...p].filter((v) => v > p[label]).length;
      expected.push({ label, rank, top1: [...p].indexOf(Math.max(...p)) });
    }
  });
  afterAll(() => model?.dispose());

  it('evaluate: top-1 and top-5 as model.predict gives them, most-confused pairs by name, no leak', async () => {
    expect(expected.map((e) => labels[e.label].split(',')[0])).toEqual([
      'Egyptian cat',
      'espresso',
      'suit',
      'tiger cat',
    ]);
    const top1 = expected.filter((e) => e.rank === 0).length / 4;
    const top5 = expected.filter((e) => e.rank < 5).length / 4;
    // The photos tell the two apart: espresso first, the tiger cat a lower guess, the suit not in the top-5.
    expect(expected[1].rank).toBe(0);
    expect(expected[3].rank).toBeGreaterThan(0);
    expect(expected[3].rank).toBeLessThan(5);
    expect(expected[2].rank).toBeGreaterThanOrEqual(5);
    expect(top5).toBe(3 / 4);
    const data = await openDataset(folder, model);
    const before = tf.memory().numTensors;
    const r = await evaluate(model, data);
    expect(tf.memory().numTensors).toBe(before);
    expect(r.count).toBe(4);
    expect(r.accuracy).toBeCloseTo(top1, 10);
    expect(r.top5).toBeCloseTo(top5, 10);
    expect(r.topK).toBe(5);
    expect(r.confusion).toBeUndefined(); // 1000 classes: pairs instead
    const wrong = expected.flatMap((e, i) => (e.rank > 0 ? [i] : []));
    expect(r.misclassified.map((m) => m.index)).toEqual(wrong);
    expect(r.confusedPairs).toHaveLength(wrong.length);
    const tiger = expected[3];
    expect(r.confusedPairs).toContainEqual({
      label: tiger.label,
      predicted: tiger.top1,
      count: 1,
      labelName: 'tiger cat',
      predictedName: labels[tiger.top1],
    });
  });

  it('faithfulness runs on the image folder, inputs named by file', async () => {
    const data = await openDataset(folder, model);
    const before = tf.memory().numTensors;
    const r = await faithfulness(model, data, {
      methods: [getExplainMethod('gradcam')],
      count: 4,
      steps: 4,
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.count).toBe(4);
    expect(r.sources.map((s) => s.split('/').slice(-2).join('/')).sort()).toEqual([
      'Egyptian_cat/chelsea.jpg',
      'espresso/coffee.jpg',
      'suit/astronaut.jpg',
      'tiger_cat/chelsea.jpg',
    ]);
    expect(r.accuracy).toBeCloseTo(expected.filter((e) => e.rank === 0).length / 4, 10);
    expect(r.targets.sort()).toEqual(expected.map((e) => e.top1).sort());
    const row = r.rows[0];
    expect(row.method).toBe('gradcam');
    expect(row.error).toBeUndefined();
    expect(row.deletionAuc).toBeGreaterThanOrEqual(0);
    expect(row.insertionAuc).toBeLessThanOrEqual(1);
  });

  it('the CLI prints the evaluation with class names', async () => {
    const r = await runCli(['evaluate', '--model', MODEL, '--dataset', folder]);
    expect(r.code, r.stderr).toBe(0);
    const top1 = ((expected.filter((e) => e.rank === 0).length / 4) * 100).toFixed(2);
    expect(r.stdout).toMatch(
      new RegExp(`^top-1 accuracy ${top1}% {2}top-5 75\\.00% .*\\(4 images, image folder\\)`),
    );
    expect(r.stdout).toContain(`1  tiger cat → ${labels[expected[3].top1]}`);
    expect(r.stdout).toMatch(/misclassified: \d \(first: .*astronaut\.jpg, .*tiger_cat\/chelsea\.jpg\)/);
  }, 300_000);

  it('explain --dataset DIR --index N prints class names, explains a class given by name', async () => {
    const out = join(tmp, 'explain');
    const r = await runCli([
      'explain',
      '--model',
      join(MODEL, 'model.json'),
      '--dataset',
      folder,
      '--index',
      '0',
      '--method',
      'gradcam',
      '--class',
      'tabby',
      '--top',
      '3',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const first = r.stdout.split('\n').find((l) => l.includes('chelsea.jpg'));
    expect(first).toContain(`chelsea.jpg [true: Egyptian cat]: ${labels[expected[0].top1]} `);
    expect(first).toMatch(/: (.+ \d+\.\d%, ){2}.+ \d+\.\d%$/); // three names with their probabilities
    expect(r.stdout).toMatch(/explained: tabby, tabby cat/);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    expect(index.targets).toEqual([labels.indexOf('tabby, tabby cat')]);
    expect(index.inputs[0].top.map((t: any) => t.class)[0]).toBe(expected[0].top1);
    expect(index.inputs[0].label).toBe(expected[0].label);
    expect(existsSync(join(out, index.inputs[0].methods[0].file))).toBe(true);
  }, 300_000);
});

describe('bad image folders: one line, exit 1, nothing written', () => {
  it('a folder without images, a labels CSV naming a missing file, an unlabelled folder for evaluate', async () => {
    const empty = join(tmp, 'empty');
    await mkdir(join(empty, 'cats'), { recursive: true });
    await writeFile(join(empty, 'cats', 'notes.txt'), 'no images here');
    const csvDir = join(tmp, 'csv');
    await mkdir(csvDir, { recursive: true });
    const png = await sharp({
      create: { width: 20, height: 14, channels: 3, background: { r: 200, g: 10, b: 10 } },
    })
      .png()
      .toBuffer();
    await writeFile(join(csvDir, 'a.png'), png);
    await writeFile(join(csvDir, 'labels.csv'), 'file,label\na.png,0\nmissing.png,1\n');
    const flat = join(tmp, 'flat');
    await mkdir(flat, { recursive: true });
    await writeFile(join(flat, 'a.png'), png);
    const out = join(tmp, 'never');
    const cases: [string[], RegExp][] = [
      [['evaluate', '--dataset', empty], /empty: no images found/],
      [['explain', '--dataset', empty, '--index', '0', '--out', out], /empty: no images found/],
      [
        ['faithfulness', '--dataset', csvDir, '--out', out],
        /labels\.csv:3: names a missing file 'missing\.png'/,
      ],
      [['evaluate', '--dataset', flat], /flat: has no labels .*evaluate needs labelled images/],
    ];
    for (const [[cmd, ...args], re] of cases) {
      const r = await runCli([cmd, '--model', KERAS, ...args]);
      expect(r.code, `${cmd} ${args.join(' ')}: ${r.stderr}`).toBe(1);
      const lines = errorLines(r.stderr);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(re);
      expect(existsSync(out)).toBe(false);
    }
  }, 600_000);
});
