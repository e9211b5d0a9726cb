/**
 * The CLI on hostile places and files (issue 20): every command writing an --out under /proc exits 1
 * with one line naming --out (before: a recursive mkdir looping forever), a 20000×20000 PNG is refused
 * in megapixels, `convlens import` of a model whose weights point outside its folder copies nothing,
 * and training on IDX labels with one stray byte of 200 says so. The commands run in parallel.
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeIdx } from '@convlens/core/data/idx';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../src/io/model-io.ts';
import { errorLines, runCli } from './cli-helpers.ts';
import { writeBigPng } from './harden-fixtures.ts';

const M = '/work/shared/models/mobilenet_v1_0.25_224';
const IMG = '/work/shared/images/coffee.png';
const PROC = '/proc/convlens-x';
let dir: string;

beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'convlens-harden-cli-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function timed(args: string[]) {
  const t = performance.now();
  const r = await runCli(args);
  return { ...r, seconds: (performance.now() - t) / 1000 };
}

async function pool<T>(n: number, jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: n }, worker));
  return out;
}

describe('CLI on hostile places and files', () => {
  it('each command fails at once on its hostile input, in one line', { timeout: 300_000 }, async () => {
    // A model whose manifest points at a correctly sized file outside its folder.
    const model = join(dir, 'model');
    const m = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
    await saveModel(m, model);
    m.dispose();
    const json = JSON.parse(await readFile(join(model, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = ['../secret864.bin'];
    await writeFile(join(model, 'model.json'), JSON.stringify(json));
    await writeFile(join(dir, 'secret864.bin'), Buffer.alloc(32, 9));
    // IDX data with labels 0–9 and one stray 200.
    const idx = join(dir, 'idx');
    await mkdir(idx);
    const labels = Uint8Array.from({ length: 200 }, (_, i) => i % 10);
    labels[5] = 200;
    await writeFile(
      join(idx, 't10k-images-idx3-ubyte'),
      encodeIdx(new Uint8Array(200 * 28 * 28), [200, 28, 28]),
    );
    await writeFile(join(idx, 't10k-labels-idx1-ubyte'), encodeIdx(labels, [200]));
    const png = join(dir, 'huge.png');
    await writeBigPng(png, 20000, 20000);

    // train, explain and lab stand for every command: the check is one preAction hook for all of them.
    const procCases: [string, string[]][] = [
      ['train', ['train', '--epochs', '1', '--out', PROC]],
      ['explain', ['explain', '--model', M, '--image', IMG, '--out', PROC]],
      ['lab', ['lab', '--quick', '--out', PROC]],
    ];
    const imported = join(dir, 'imported');
    // Two at a time: each start-up loads tfjs, sharp and tsx (seconds of CPU on a 2-core machine).
    const [proc0, proc1, proc2, big, imp, stray] = await pool(2, [
      ...procCases.map(
        ([, a]) =>
          () =>
            timed(a),
      ),
      () => timed(['explain', '--model', M, '--image', png, '--out', join(dir, 'explain')]),
      () => timed(['import', model, '--out', imported]),
      () => timed(['train', '--dataset', idx, '--epochs', '1', '--out', join(dir, 'run')]),
    ]);
    const proc = [proc0, proc1, proc2];
    const times = proc.map((r, i) => `${procCases[i][0]} ${r.seconds.toFixed(1)} s`).join(', ');
    console.log(
      `--out ${PROC} (wall time, dominated by Node + tsx + tfjs start-up; before: no exit at all): ${times}`,
    );
    for (const r of proc) {
      expect(r.code).toBe(1);
      expect(errorLines(r.stderr)).toEqual([
        `convlens: --out ${PROC}: cannot write there (/proc holds kernel or device files)`,
      ]);
    }
    await expect(stat(PROC)).rejects.toThrow();

    expect(big.code).toBe(1);
    expect(errorLines(big.stderr)).toEqual([
      `convlens: ${png}: image is 20000×20000: 400 megapixels exceeds the limit of 100 megapixels`,
    ]);

    expect(imp.code).toBe(1);
    expect(errorLines(imp.stderr)).toEqual([
      `convlens: ${join(model, 'model.json')}: weight path "../secret864.bin" leads outside the model's folder; refused`,
    ]);
    await expect(stat(imported)).rejects.toThrow();

    expect(stray.code).toBe(1);
    expect(errorLines(stray.stderr)).toHaveLength(1);
    expect(errorLines(stray.stderr)[0]).toMatch(
      /label 200 \(1 image\) beyond the others \(0–9\): that would train a 201-class model with 190 classes that have no images/,
    );
  });
});
