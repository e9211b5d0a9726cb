/** Checks against the real datasets in ../shared/datasets (or $CONVLENS_DATA_DIR); skipped when absent. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { md5File } from '../src/data/download.ts';
import { loadDataset, trainValSplit } from '../src/data/load.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const root = [process.env.CONVLENS_DATA_DIR, join(repoRoot, '..', 'shared', 'datasets')].find(
  (d) => d && existsSync(join(d, 'mnist', 't10k-images-idx3-ubyte.gz')),
);
const opts = { dataDir: root, env: {}, systemDirs: [], download: false };
const counts = (labels: Iterable<number>, k = 10) => {
  const c = new Array(k).fill(0);
  for (const l of labels) c[l]++;
  return c;
};

describe.skipIf(!root)('real MNIST test split', () => {
  it('has 10,000 28×28 digits labelled 0..9 with the known class sizes', async () => {
    const d = await loadDataset('mnist', opts);
    expect(d.dir).toBe(join(root!, 'mnist'));
    expect(d.test).toMatchObject({ count: 10000, height: 28, width: 28, channels: 1, numClasses: 10 });
    expect(d.test.images.length).toBe(10000 * 784);
    expect(counts(d.test.labels)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    expect(d.resolved.hasTrain).toBe(false);
    expect(d.provenance.split).toBe('from-test');
    const s = trainValSplit(d, { valFraction: 0.2, seed: 1 });
    expect([s.train.count, s.val.count]).toEqual([8000, 2000]);
    const val = counts(s.val.labels);
    const all = counts(d.test.labels);
    for (let c = 0; c < 10; c++) expect(Math.abs(val[c] - all[c] * 0.2)).toBeLessThan(1);
  });

  it.skipIf(!root || !existsSync(join(root, 'MD5SUMS')))('files match MD5SUMS', async () => {
    const lines = readFileSync(join(root!, 'MD5SUMS'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+\*?/));
    expect(lines.filter(([, f]) => f.startsWith('mnist/t10k-')).length).toBe(2);
    for (const [sum, file] of lines) expect(await md5File(join(root!, file)), file).toBe(sum);
  });
});

describe.skipIf(!root || !existsSync(join(root, 'fashion-mnist', 'train-images-idx3-ubyte.gz')))(
  'real Fashion-MNIST',
  () => {
    it('has the standard 60,000/10,000 split with 6,000/1,000 per class', async () => {
      const d = await loadDataset('fashion-mnist', opts);
      expect(d.train).toMatchObject({ count: 60000, height: 28, width: 28, channels: 1, numClasses: 10 });
      expect(d.test.count).toBe(10000);
      expect(counts(d.train!.labels)).toEqual(new Array(10).fill(6000));
      expect(counts(d.test.labels)).toEqual(new Array(10).fill(1000));
      expect(d.test.classNames![9]).toBe('Ankle boot');
      expect(d.provenance.split).toBe('standard');
    });
  },
);
