/**
 * Keras 3 files written by real Keras 3.15 (fixtures/keras3/make.py, jax backend): a functional model
 * with branches (Add, Concatenate), batch norm and a GAP head, as .keras and as legacy .h5, and a
 * Sequential .keras. Predictions must equal Keras's own, recorded when the files were written.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { importModel } from '../src/import/import-model.ts';
import { keras3WeightGroups } from '../src/import/keras-config.ts';

const DIR = join(import.meta.dirname, 'fixtures/keras3');

async function expected(name: string) {
  return JSON.parse(await readFile(join(DIR, name), 'utf8')) as {
    input: number[];
    shape: [number, number, number, number];
    predictions: number[];
  };
}

async function maxDiff(file: string, exp: Awaited<ReturnType<typeof expected>>) {
  const { model } = await importModel(join(DIR, file));
  const x = tf.tensor4d(exp.input, exp.shape);
  const p = model.predict(x) as tf.Tensor;
  const got = await p.data();
  tf.dispose([x, p]);
  model.dispose();
  expect(got.length).toBe(exp.predictions.length);
  return Math.max(...exp.predictions.map((v, i) => Math.abs(v - got[i])));
}

beforeAll(() => initBackend('wasm'));

describe('Keras 3 models written by Keras', () => {
  it('functional model with branches, batch norm and GAP: .keras and .h5 predict as Keras did', async () => {
    const exp = await expected('expected.json');
    expect(await maxDiff('branchy.keras', exp)).toBeLessThan(1e-5);
    expect(await maxDiff('branchy.h5', exp)).toBeLessThan(1e-5);
  });

  it('Sequential .keras (weight groups named by class, not by layer) predicts as Keras did', async () => {
    expect(await maxDiff('seq.keras', await expected('expected-seq.json'))).toBeLessThan(1e-5);
  });

  it('maps layers to Keras 3 weight groups by class and order', () => {
    const layer = (class_name: string, name: string) => ({ class_name, config: { name } });
    const functional = {
      class_name: 'Functional',
      config: {
        layers: [
          layer('InputLayer', 'in'),
          layer('Conv2D', 'a'),
          layer('Conv2D', 'b'),
          layer('GlobalAveragePooling2D', 'g'),
          layer('Dense', 'd'),
        ],
      },
    };
    expect([...keras3WeightGroups(functional)]).toEqual([
      ['in', 'input_layer'],
      ['a', 'conv2d'],
      ['b', 'conv2d_1'],
      ['g', 'global_average_pooling2d'],
      ['d', 'dense'],
    ]);
    const seq = { class_name: 'Sequential', config: { layers: functional.config.layers } };
    expect(keras3WeightGroups(seq).has('in')).toBe(false);
  });
});
