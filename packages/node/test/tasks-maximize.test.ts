// The maximize task on a model that is not a training run: an RGB model fed as MobileNet is (pixels·2 − 1)
// with class names, saved as an imported folder. Classes by name and index reach > 0.9 with the Lucid
// defaults; the raw inputs written beside the figures, read back through the normal image path (the
// folder as a dataset, the model's own preprocessing), give the probabilities index.json records; a
// written .npy restarts the optimization where it ended; class lists are parsed like the dataset class map.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { preprocessBatch } from '@convlens/core/data/batches';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { parseNpy } from '@convlens/core/methods/actmax/npy';
import { buildModel } from '@convlens/core/models/build';
import { trainModel } from '@convlens/core/train/loop';
import { makeOptimizer } from '@convlens/core/train/optimizers';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchesOf, quadrants } from '../../core/test/helpers/quadrants.ts';
import { saveImported } from '../src/import/save-imported.ts';
import { parseClassList } from '../src/open/class-lookup.ts';
import { openDataset } from '../src/open/open-dataset.ts';
import { type OpenedModel, openModel } from '../src/open/open-model.ts';
import { type MaximizeIndex, maximizeTask } from '../src/tasks/maximize.ts';
import { smallLayersModel, writeGraphModel } from './graph-fixture.ts';

const SIZE = 16;
const NAMES = ['top left, north-west', 'top right', 'bottom left', 'bottom right, south-east'];
/** |Δp| from writing the input as an 8-bit PNG: measured 0.0036 here (at p ≈ 0.07); the bound leaves room. */
const PNG_BOUND = 0.01;

let root: string;
let m: OpenedModel;
let index: MaximizeIndex;

beforeAll(async () => {
  await initBackend('wasm');
  root = await mkdtemp(join(tmpdir(), 'convlens-maxtask-'));
  const model = buildModel('cnn1', { inputShape: [SIZE, SIZE, 3], numClasses: 4, seed: 5 });
  const set = quadrants(512, 3, SIZE, 3);
  set.x = set.x.map((v) => v * 2 - 1);
  const optimizer = makeOptimizer({ name: 'adam', learningRate: 0.01 });
  await trainModel(model, { optimizer, epochs: 2, trainBatches: batchesOf(set, 32, 1) });
  optimizer.dispose();
  await saveImported(model, join(root, 'model'), { preset: 'scale-1-1', classNames: NAMES });
  model.dispose();
  m = await openModel(join(root, 'model'));
  index = await maximizeTask(m, { class: 'top right,3,north-west', steps: 48, out: join(root, 'out') });
});

afterAll(async () => {
  m?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('maximize on an RGB model with class names', () => {
  it('uses the Lucid defaults and reaches every class, named in index.json', () => {
    expect(m.named).toBe(true);
    expect(index.style).toBe('lucid');
    expect(index.options).toMatchObject({ parameterization: 'fourier', scale: 0.1, rotate: 10, steps: 48 });
    expect(index.files.map((f) => f.targetClass)).toEqual([1, 3, 0]);
    expect(index.files.map((f) => f.className)).toEqual([NAMES[1], NAMES[3], NAMES[0]]);
    expect(index.rows[1]).toBe('class 3 (bottom right)');
    expect(index.files[1].file).toBe('class-3-bottom_right.png');
    for (const f of index.files) {
      expect(f.targetProbability!).toBeGreaterThan(0.9);
      expect(f.predicted).toBe(f.targetClass);
      expect(f.curve.at(-1)!).toBeGreaterThan(f.curve[0]);
    }
  });

  it('writes the inputs at the model size; re-read they give the recorded probabilities', async () => {
    // Converged (p ≈ 1) and early (1 small step: probabilities mid-way, where 8 bits can show).
    const early = await maximizeTask(m, { class: 'all', steps: 1, lr: 0.01, out: join(root, 'early') });
    const mid = early.files.filter((f) => f.targetProbability! > 0.05 && f.targetProbability! < 0.95);
    expect(mid.length).toBeGreaterThan(0);
    let worst = 0;
    for (const [dir, ix] of [
      ['out', index],
      ['early', early],
    ] as const) {
      const files = ix.files;
      // .npy: the float model input itself.
      const npys = await Promise.all(
        files.map(async (f) => parseNpy(new Uint8Array(await readFile(join(root, dir, f.input.npy))))),
      );
      for (const n of npys) expect(n.shape).toEqual([SIZE, SIZE, 3]);
      const x = new Float32Array(npys.length * SIZE * SIZE * 3);
      npys.forEach((n, i) => {
        x.set(n.data, i * SIZE * SIZE * 3);
      });
      const pNpy = predict(x, npys.length);
      // PNG: through the image-folder dataset (labels.csv) and the model's preprocessing, as any image is.
      const meta = await sharp(join(root, dir, files[0].input.png)).metadata();
      expect([meta.width, meta.height, meta.channels]).toEqual([SIZE, SIZE, 3]);
      const data = await openDataset(join(root, dir, 'inputs'), m);
      expect(data.count).toBe(files.length);
      const { set } = await data.read(files.map((_, i) => i));
      const byFile = new Map(files.map((_, i) => [data.source(i).split('/').pop(), i]));
      const px = Float32Array.from(set.images, (v) => v / 255);
      const pPng = predict(preprocessBatch(m.preprocess, px, 3, SIZE * SIZE * 3), files.length);
      for (const [i, f] of files.entries()) {
        const c = f.targetClass!;
        const j = byFile.get(f.input.png.split('/').pop())!;
        expect(set.labels[j]).toBe(c); // labels.csv names the target class
        expect(Math.abs(pNpy[i][c] - f.targetProbability!)).toBeLessThan(1e-5);
        expect(Math.abs(pPng[j][c] - f.pngProbability!)).toBeLessThan(1e-5);
        worst = Math.max(worst, Math.abs(pPng[j][c] - f.targetProbability!));
      }
    }
    expect(worst).toBeLessThan(PNG_BOUND);
  });

  it('restarts from a written .npy or PNG where the optimization ended', async () => {
    const f = index.files[0];
    for (const file of [f.input.npy, f.input.png]) {
      const r = await maximizeTask(m, {
        class: '1',
        start: join(root, 'out', file),
        steps: 1,
        lr: 1e-6,
        out: join(root, `restart-${file.slice(-3)}`),
      });
      expect(r.options.start).toBe(join(root, 'out', file));
      expect(Math.abs(r.files[0].targetProbability! - f.targetProbability!)).toBeLessThan(PNG_BOUND);
    }
  });

  function predict(x: Float32Array, n: number): number[][] {
    const y = tf.tidy(() => m.model.predict(tf.tensor4d(x, [n, SIZE, SIZE, 3])) as tf.Tensor);
    const v = y.arraySync() as number[][];
    y.dispose();
    return v;
  }
});

describe('a graph model', () => {
  it('maximizes classes (softmax: it has no logits to read, and says so) but refuses filters', async () => {
    const g = join(root, 'graph');
    const small = smallLayersModel([8, 8, 1]);
    // Its biases are drawn unseeded: zero them so the model (and the numbers below) are the same every run.
    for (const name of ['conv', 'dense']) {
      const [k, b] = small.getLayer(name).getWeights();
      const zero = tf.zerosLike(b);
      small.getLayer(name).setWeights([k, zero]);
      zero.dispose();
    }
    await writeGraphModel(small, g);
    small.dispose();
    const gm = await openModel(join(g, 'model.json'), { preset: 'scale01' });
    const lines: string[] = [];
    try {
      const r = await maximizeTask(
        gm,
        { class: '0', steps: 60, lr: 0.1, tv: 0, out: join(root, 'g-class') },
        { log: (l) => lines.push(l) },
      );
      expect(lines[0]).toMatch(/no pre-softmax scores found; maximizing the softmax probability instead/);
      expect(r.style).toBe('keras-vis');
      expect(r.files[0].terms[0]).toMatchObject({ kind: 'class', index: 0, space: 'probability' });
      expect(r.files[0].objective).toBeCloseTo(r.files[0].targetProbability!, 4);
      // Measured: 0.175 at the first step, 0.617 after 60.
      expect(r.files[0].curve[0]).toBeLessThan(0.25);
      expect(r.files[0].targetProbability!).toBeGreaterThan(0.5);
      await expect(
        maximizeTask(gm, { layer: 'conv', filter: [0], out: join(root, 'g-filter') }),
      ).rejects.toThrow(
        /graph model: no layers to maximize filters or units of; import it as a layers model/,
      );
      expect(existsSync(join(root, 'g-filter'))).toBe(false);
    } finally {
      gm.dispose();
    }
  });
});

describe('class lists', () => {
  const imagenet = ['tench, Tinca tinca', 'crane', 'dumbbell', 'maillot', 'maillot, tank suit', 'crane'];
  it('takes indices, whole names and synonyms, case- and underscore-insensitive', () => {
    expect(parseClassList('2,Tinca_tinca, DUMBBELL ,0', imagenet)).toEqual([2, 0, 2, 0]);
    expect(parseClassList('maillot,tank suit', imagenet)).toEqual([3, 4]);
    expect(parseClassList('all', imagenet)).toEqual([0, 1, 2, 3, 4, 5]);
  });
  it('says which classes a shared name means, and suggests near names', () => {
    expect(() => parseClassList('crane', imagenet)).toThrow(
      "--class 'crane' names 2 classes (1: crane, 5: crane); give the index",
    );
    expect(() => parseClassList('dumb', imagenet)).toThrow(
      /not a class of this model \(did you mean 2: dumbbell\?\)/,
    );
    expect(() => parseClassList('dumbell', imagenet)).toThrow(/did you mean 2: dumbbell\?/);
    expect(() => parseClassList('zebra', imagenet)).toThrow(
      /'zebra' is not a class of this model \(6 classes/,
    );
    expect(() => parseClassList('1,,2', imagenet)).toThrow(/comma-separated list/);
  });
});
