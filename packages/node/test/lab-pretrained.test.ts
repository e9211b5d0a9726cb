/**
 * `convlens lab` on a model it does not train: a small RGB model saved as an imported model folder (with
 * class names) over a PNG folder of class folders. The report is written with section 2 omitted and why,
 * its test-performance numbers equal the model's own predictions computed here, a re-run reuses every
 * stage, and bad input gets one line with nothing written.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveImported } from '../src/import/save-imported.ts';
import { openPretrained } from '../src/lab/pretrained.ts';
import { pretrainedStageKeys } from '../src/lab/pretrained-stages.ts';
import { resolveSettings } from '../src/lab/settings.ts';
import { type CliResult, errorLines, runCli } from './cli-helpers.ts';

const NAMES = ['apple', 'bee', 'cloud', 'dune', 'ember', 'fern', 'glacier', 'harbor'];
const SIZE = 24;
const PER_CLASS = 3;
const SECTIONS = ['data', 'train', 'test', 'part1', 'part2', 'part3', 'methods', 'featuremap', 'transfer'];

/** Conv → batch norm → relu twice, then GAP and a softmax head: the shape of an ImageNet CNN, tiny. */
function tinyModel(): tf.LayersModel {
  const input = tf.input({ shape: [SIZE, SIZE, 3] });
  let x = input as tf.SymbolicTensor;
  for (const [i, filters] of [8, 16].entries()) {
    x = tf.layers
      .conv2d({
        filters,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        name: `conv${i + 1}`,
        kernelInitializer: tf.initializers.glorotUniform({ seed: 7 + i }),
      })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: `conv${i + 1}_bn` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.activation({ activation: 'relu', name: `conv${i + 1}_relu` }).apply(x) as tf.SymbolicTensor;
    if (i === 0) x = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }).apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({
      units: NAMES.length,
      activation: 'softmax',
      name: 'predictions',
      // Wide logits, as a trained head has: a class can be made near-certain.
      kernelInitializer: tf.initializers.randomNormal({ stddev: 2, seed: 11 }),
    })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'tiny_rgb' });
}

/** Class k: a coloured blob at a class-dependent place over seeded noise, so predictions vary. */
function image(k: number, j: number): Uint8Array {
  let s = (k * 31 + j * 7 + 1) >>> 0;
  const r = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const px = new Uint8Array(SIZE * SIZE * 3);
  const cy = 4 + ((k * 5) % 16);
  const cx = 4 + ((k * 11) % 16);
  for (let y = 0; y < SIZE; y++)
    for (let x = 0; x < SIZE; x++)
      for (let c = 0; c < 3; c++) {
        const blob = (y - cy) ** 2 + (x - cx) ** 2 < 20 ? ((k >> c) & 1 ? 200 : 40) : 0;
        px[(y * SIZE + x) * 3 + c] = Math.min(255, Math.floor(blob + r() * 80));
      }
  return px;
}

let tmp: string;
let modelDir: string;
let photos: string;
let out: string;
let first: CliResult;
/** Per image (in the folder's sorted order): its label and the model's probabilities. */
let expected: { label: number; probs: number[] }[];

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'convlens-lab-pretrained-'));
  await initBackend('wasm');
  const model = tinyModel();
  modelDir = join(tmp, 'tiny');
  await saveImported(model, modelDir, { preset: 'scale01', classNames: NAMES });
  photos = join(tmp, 'photos');
  expected = [];
  for (const [k, name] of NAMES.entries()) {
    await mkdir(join(photos, name), { recursive: true });
    for (let j = 0; j < PER_CLASS; j++) {
      const px = image(k, j);
      await sharp(Buffer.from(px), { raw: { width: SIZE, height: SIZE, channels: 3 } })
        .png()
        .toFile(join(photos, name, `img-${j}.png`));
      // The model's own view, computed here: the PNG decoded again, pixels / 255.
      const { data } = await sharp(join(photos, name, `img-${j}.png`))
        .raw()
        .toBuffer({ resolveWithObject: true });
      const probs = tf.tidy(() =>
        Array.from(
          (
            model.predict(
              tf.tensor4d(
                Float32Array.from(data, (v) => v / 255),
                [1, SIZE, SIZE, 3],
              ),
            ) as tf.Tensor
          ).dataSync(),
        ),
      );
      expected.push({ label: k, probs });
    }
  }
  model.dispose();
  out = join(tmp, 'lab');
  first = await runCli(['lab', '--model', modelDir, '--dataset', photos, '--quick', '--json', '--out', out]);
}, 300_000);

afterAll(async () => {
  if (!process.env.CONVLENS_KEEP_LAB) await rm(tmp, { recursive: true, force: true });
});

describe('convlens lab --model DIR --dataset PHOTOS (a model it does not train)', () => {
  it('writes index.html and report.json with every section, training omitted with its reason', async () => {
    expect(first.code, first.stderr.slice(-2000)).toBe(0);
    const s = JSON.parse(first.stdout);
    expect(s.interrupted).toBe(false);
    expect(s.stages.map((x: { id: string }) => x.id)).toEqual(SECTIONS);
    expect(existsSync(join(out, 'index.html'))).toBe(true);
    expect(existsSync(join(out, 'run'))).toBe(false);
    const r = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(r.stages.train.omitted).toMatch(
      /^Omitted: the model \(.*tiny, an imported model\) is used as it is/,
    );
    expect(r.settings.pretrained).toMatchObject({ kind: 'imported', numClasses: 8, named: true });
    const html = await readFile(join(out, 'index.html'), 'utf8');
    expect(html).toContain('<p class="omitted">Omitted: the model');
    expect(html).not.toMatch(/Not computed yet/);
    expect(html).not.toMatch(/https?:\/\//);
    // The data section counts what is in the folder, by the model's class names.
    expect(r.stages.data.numbers.classes).toEqual(
      NAMES.map((name, k) => ({ class: k, name, count: PER_CLASS })),
    );
  });

  it('reports the top-1 and top-5 accuracy and confusion that the model’s own predictions give', async () => {
    const t = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')).stages.test.numbers;
    const n = expected.length;
    const rank = (e: (typeof expected)[number]) => e.probs.filter((p) => p > e.probs[e.label]).length;
    const top1 = expected.filter((e) => rank(e) === 0).length / n;
    const top5 = expected.filter((e) => rank(e) < 5).length / n;
    const loss = expected.reduce((a, e) => a - Math.log(e.probs[e.label]), 0) / n;
    expect(t.count).toBe(n);
    expect(t.accuracy).toBeCloseTo(top1, 10);
    expect(t.top5).toBeCloseTo(top5, 10);
    expect(t.loss).toBeCloseTo(loss, 3);
    // Not a trivial case: some right, some wrong.
    expect(top1).toBeGreaterThan(0);
    expect(top1).toBeLessThan(1);
    // The confusion among the folder's classes, row by row: the argmax of each image's probabilities.
    const want = NAMES.map(() => new Array(NAMES.length).fill(0));
    for (const e of expected) want[e.label][e.probs.indexOf(Math.max(...e.probs))]++;
    expect(t.confusion).toEqual(want);
    expect(t.misclassified.map((m: { index: number }) => m.index)).toEqual(
      expected.flatMap((e, i) => (rank(e) === 0 ? [] : [i])),
    );
  });

  it('looks inside, maximizes every class and explains with the faithfulness table', async () => {
    const { part1, part2, part3 } = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')).stages;
    // The convs read after their batch norm and activation, maximized before it; kernels of both.
    expect(part1.numbers.layers).toEqual(['conv1_relu', 'conv2_relu']);
    expect(Object.keys(part2.numbers.layers)).toEqual(['conv1_bn', 'conv2_bn']);
    expect(part1.numbers.filterLayers).toEqual(['conv1', 'conv2']);
    expect(part1.numbers.statsImages).toBe(expected.length);
    expect(part2.numbers.classes.map((c: { class: number }) => c.class)).toEqual(NAMES.map((_, k) => k));
    // Every class's logit grew (a random head is far from confident; --quick runs 32 steps).
    for (const c of part2.numbers.classes) expect(c.objective).toBeGreaterThan(c.objectiveStart + 0.1);
    const table = part3.numbers.faithfulness.table;
    expect(table.rows.length).toBeGreaterThan(10);
    for (const id of ['gradcam', 'occlusion']) {
      const row = table.rows.find((x: { method: string }) => x.method === id);
      expect(row.error, id).toBeUndefined();
      expect(Number.isFinite(row.deletionAuc)).toBe(true);
    }
  });

  it('a re-run with the same model and folder reuses every stage', async () => {
    const again = await runCli([
      'lab',
      '--model',
      modelDir,
      '--dataset',
      photos,
      '--quick',
      '--json',
      '--out',
      out,
    ]);
    expect(again.code, again.stderr.slice(-2000)).toBe(0);
    const s = JSON.parse(again.stdout);
    expect(s.stages.map((x: { cached: boolean }) => x.cached)).toEqual(SECTIONS.map(() => true));
  }, 120_000);
});

describe('the pretrained lab’s cache keys', () => {
  it('stay the same between identical runs and change when one image of the dataset changes', async () => {
    const keys = async () => {
      const p = await openPretrained(
        { model: modelDir, dataset: photos, out: join(tmp, 'unused'), seed: 1, backend: 'wasm' },
        () => {},
      );
      try {
        return pretrainedStageKeys({
          ...resolveSettings({ out: '', seed: 1, backend: 'wasm' }),
          pretrained: p.settings,
        });
      } finally {
        p.dispose();
      }
    };
    const before = await keys();
    expect(await keys()).toEqual(before);
    // One image rewritten with other pixels: every stage that reads the data is recomputed.
    const file = join(photos, NAMES[0], 'img-0.png');
    const saved = await readFile(file);
    await sharp(Buffer.from(image(5, 9)), { raw: { width: SIZE, height: SIZE, channels: 3 } })
      .png()
      .toFile(file);
    const changed = await keys();
    await writeFile(file, saved);
    for (const id of ['data', 'test', 'part1', 'part2', 'part3'])
      expect(changed[id], id).not.toBe(before[id]);
    expect(changed.train).toBe(before.train);
  });
});

describe('convlens lab on a pretrained model: bad input gets one line and exit 1, nothing written', () => {
  it('refuses --epochs (the lab trains only zoo models)', async () => {
    const o = join(tmp, 'epochs');
    const r = await runCli(['lab', '--model', modelDir, '--dataset', photos, '--epochs', '2', '--out', o]);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([
      expect.stringMatching(/^convlens: --epochs: the lab trains only zoo models .* is used as it is$/),
    ]);
    expect(existsSync(o)).toBe(false);
  });

  it('names a dataset folder that does not exist', async () => {
    const o = join(tmp, 'nodata');
    const r = await runCli(['lab', '--model', modelDir, '--dataset', join(tmp, 'nope'), '--out', o]);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(/nope/)]);
    expect(existsSync(o)).toBe(false);
  });

  it('names an unknown --layers entry with the valid ones', async () => {
    const o = join(tmp, 'layers');
    const r = await runCli([
      'lab',
      '--model',
      modelDir,
      '--dataset',
      photos,
      '--layers',
      'conv9',
      '--out',
      o,
    ]);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(/--layers: no layer 'conv9' .*conv1_bn/)]);
    expect(existsSync(o)).toBe(false);
  });

  it('refuses a pretrained-only flag with a zoo model', async () => {
    const r = await runCli(['lab', '--model', 'pw11', '--classes', 'cup', '--out', join(tmp, 'zoo')]);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([
      expect.stringMatching(/--classes applies to a pretrained --model/),
    ]);
  });
});
