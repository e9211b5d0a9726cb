// maximize's Lucid vocabulary through the task, on a small seeded model saved as an imported folder:
// an objective expression (its files and caption), diversity copies (distinct images, their similarity
// recorded), CPPN and neuron groups from a folder of images (one image per group direction).
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { parseNpy } from '@convlens/core/methods/actmax/npy';
import { buildModel } from '@convlens/core/models/build';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveImported } from '../src/import/save-imported.ts';
import { type OpenedModel, openModel } from '../src/open/open-model.ts';
import { maximizeTask } from '../src/tasks/maximize.ts';

let root: string;
let m: OpenedModel;

beforeAll(async () => {
  await initBackend('wasm');
  root = await mkdtemp(join(tmpdir(), 'convlens-maxlucid-'));
  const model = buildModel('cnn1', { inputShape: [16, 16, 3], numClasses: 4, seed: 5 });
  await saveImported(model, join(root, 'model'), { preset: 'scale-1-1', classNames: ['a', 'b', 'c', 'd'] });
  model.dispose();
  m = await openModel(join(root, 'model'));
  await mkdir(join(root, 'photos'));
  let s = 3;
  for (let k = 0; k < 6; k++) {
    const px = Buffer.from(
      Array.from({ length: 16 * 16 * 3 }, () => {
        s = (s * 1103515245 + 12345) >>> 0;
        return s >>> 24;
      }),
    );
    await writeFile(
      join(root, 'photos', `${k}.png`),
      await sharp(px, { raw: { width: 16, height: 16, channels: 3 } })
        .png()
        .toBuffer(),
    );
  }
});

afterAll(async () => {
  m?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('maximize with Lucid objectives', () => {
  it('takes an objective expression and diversity copies', async () => {
    const conv = m.model.layers.find((l) => l.getClassName() === 'Conv2D')!.name;
    const out = join(root, 'expr');
    const index = await maximizeTask(m, {
      objective: [`channel:${conv}:3 + 0.5*class:b - class:0`],
      diversity: 2,
      diversityWeight: 5,
      steps: 12,
      out,
    });
    expect(index.files).toHaveLength(2);
    expect(index.files[0].target).toMatch(/filter 3 \+ 0.5·class 1 − class 0 #1/);
    expect(index.files[0].input.npy).toMatch(/_copy-0\.npy$/);
    expect(index.diversity?.layer).toBe(conv);
    expect(index.diversity?.meanCosine[0]).toBeLessThan(1);
    const a = parseNpy(new Uint8Array(await readFile(join(out, index.files[0].input.npy)))).data;
    const b = parseNpy(new Uint8Array(await readFile(join(out, index.files[1].input.npy)))).data;
    expect(a.length).toBe(16 * 16 * 3);
    expect(a.some((v, i) => Math.abs(v - b[i]) > 1e-3)).toBe(true);
    await expect(maximizeTask(m, { objective: ['class:b'], class: '1', out })).rejects.toThrow(
      /replace --class/,
    );
  }, 60_000);

  it('visualizes neuron groups and CPPN images', async () => {
    const conv = m.model.layers.filter((l) => l.getClassName() === 'Conv2D').at(-1)!.name;
    const before = tf.memory().numTensors;
    const index = await maximizeTask(m, {
      groups: 3,
      layer: conv,
      dataset: join(root, 'photos'),
      param: 'cppn',
      steps: 8,
      out: join(root, 'groups'),
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(index.groups?.directions).toHaveLength(3);
    expect(index.groups?.images).toBe(6);
    const sum = index.groups!.shares.reduce((x, y) => x + y, 0);
    expect(sum).toBeCloseTo(1, 3);
    expect(index.files.map((f) => f.target)).toEqual([0, 1, 2].map((k) => `group ${k}`));
    expect(index.groups?.layer).toBe(conv);
    expect(index.options).toMatchObject({ parameterization: 'cppn', learningRate: 0.005 });
    // Each group's image raises its direction from the grey CPPN start.
    for (const f of index.files) expect(f.objective).toBeGreaterThan(f.curve[0]);
  }, 60_000);
});
