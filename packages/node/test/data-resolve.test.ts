import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheRoot, DatasetNotFoundError, resolveDataset, scanDatasetDir } from '../src/data/resolve.ts';
import { tempDir, writeFixture } from './data-fixtures.ts';

let root: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir: root, cleanup } = await tempDir());
});
afterEach(() => cleanup());

const mk = async (...parts: string[]) => {
  const d = join(root, ...parts);
  await mkdir(d, { recursive: true });
  return d;
};

/** Options that see only the temp tree, never the real environment, cache or network. */
const isolated = (extra: object = {}) => ({
  env: {},
  homeDir: join(root, 'home'),
  systemDirs: [join(root, 'sys')],
  download: false,
  ...extra,
});

/** A port that was just free: nothing listens there. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

describe('resolveDataset', () => {
  it('follows the order --data-dir, $CONVLENS_DATA_DIR/<name>, cache, /usr/share/datasets', async () => {
    const dataDir = await writeFixture(await mk('dd', 'mnist'));
    const envDir = await writeFixture(await mk('env', 'mnist'));
    const cache = await writeFixture(await mk('home', '.cache', 'convlens', 'mnist'));
    const sys = await writeFixture(await mk('sys', 'mnist'));
    const opts = isolated({ dataDir: join(root, 'dd'), env: { CONVLENS_DATA_DIR: join(root, 'env') } });
    const order: [string, string][] = [];
    for (const dir of [dataDir, envDir, cache, sys]) {
      const r = await resolveDataset('mnist', opts);
      order.push([r.origin, r.dir]);
      await rm(dir, { recursive: true });
    }
    expect(order).toEqual([
      ['data-dir', dataDir],
      ['env', envDir],
      ['cache', cache],
      ['system', sys],
    ]);
  });

  it('accepts --data-dir pointing at the files themselves', async () => {
    const d = await writeFixture(await mk('flat'), { gz: true });
    const r = await resolveDataset('fashion-mnist', isolated({ dataDir: d }));
    expect(r).toMatchObject({ dir: d, origin: 'data-dir', name: 'fashion-mnist', hasTrain: false });
    expect(r.files.testImages).toBe(join(d, 't10k-images-idx3-ubyte.gz'));
    expect(r.looked[0]).toBe(`--data-dir ${join(d, 'fashion-mnist')} (not found)`);
  });

  it('respects an absolute XDG_CACHE_HOME and ignores a relative one', async () => {
    expect(cacheRoot({ XDG_CACHE_HOME: '/x/cache' }, '/home/u')).toBe('/x/cache/convlens');
    expect(cacheRoot({ XDG_CACHE_HOME: 'rel' }, '/home/u')).toBe('/home/u/.cache/convlens');
    expect(cacheRoot({}, '/home/u')).toBe('/home/u/.cache/convlens');
    const xdg = await writeFixture(await mk('xdg', 'convlens', 'mnist'));
    const r = await resolveDataset('mnist', isolated({ env: { XDG_CACHE_HOME: join(root, 'xdg') } }));
    expect(r).toMatchObject({ origin: 'cache', dir: xdg });
  });

  it('reports hasTrain=false for a folder with the test split and train labels only', async () => {
    const d = await writeFixture(await mk('m'), { trainLabelsOnly: true, gz: true });
    const r = await resolveDataset(d, isolated());
    expect(r).toMatchObject({ origin: 'folder', hasTrain: false, name: d });
    expect(r.files.trainImages).toBeUndefined();
    const full = await writeFixture(await mk('full'), { train: 5 });
    const f = await resolveDataset(full, isolated());
    expect(f.hasTrain).toBe(true);
    expect(f.files.trainLabels).toBe(join(full, 'train-labels-idx1-ubyte'));
  });

  it('skips incomplete folders and says why', async () => {
    const incomplete = await mk('env', 'mnist');
    await writeFile(join(incomplete, 't10k-images-idx3-ubyte.gz'), 'x');
    const odd = await writeFixture(await mk('home', '.cache', 'convlens', 'mnist'));
    await writeFile(join(odd, 'train-images-idx3-ubyte'), 'x');
    const sys = await writeFixture(await mk('sys', 'mnist'));
    const r = await resolveDataset('mnist', isolated({ env: { CONVLENS_DATA_DIR: join(root, 'env') } }));
    expect(r.dir).toBe(sys);
    expect(r.looked).toEqual([
      `$CONVLENS_DATA_DIR ${incomplete} (no t10k-labels-idx1-ubyte[.gz])`,
      `cache ${odd} (has train-images-idx3-ubyte but no train-labels-idx1-ubyte[.gz])`,
    ]);
  });

  it('finds prefixed IDX names in a folder and rejects ambiguous ones', async () => {
    const d = await mk('emnist');
    for (const f of ['emnist-digits-test-images-idx3-ubyte.gz', 'emnist-digits-test-labels-idx1-ubyte.gz']) {
      await writeFile(join(d, f), 'x');
    }
    const r = await resolveDataset(d, isolated());
    expect(r.files.testImages).toBe(join(d, 'emnist-digits-test-images-idx3-ubyte.gz'));
    await writeFile(join(d, 'emnist-letters-test-images-idx3-ubyte.gz'), 'x');
    expect((await scanDatasetDir(d)).problem).toMatch(/^several files could be t10k-images-idx3-ubyte: /);
  });

  it('rejects unknown dataset names and folders without the files', async () => {
    await expect(resolveDataset('mnsit', isolated())).rejects.toThrow(
      "unknown dataset 'mnsit': expected one of mnist, fashion-mnist, or a folder holding train-images-idx3-ubyte[.gz]",
    );
    await expect(resolveDataset(join(root, 'nope'), isolated())).rejects.toThrow(
      `dataset folder ${join(root, 'nope')}: not found; a dataset folder holds`,
    );
    const empty = await mk('empty');
    await expect(resolveDataset(empty, isolated())).rejects.toThrow(
      `dataset folder ${empty}: no t10k-images-idx3-ubyte[.gz] or t10k-labels-idx1-ubyte[.gz];`,
    );
  });

  it('offline with nothing found: one error naming every place looked and how to provide the files', async () => {
    const dd = await mk('dd');
    const port = await closedPort();
    const opts = isolated({
      dataDir: dd,
      download: true,
      // A closed port stands in for "no network".
      downloadOptions: {
        mirrors: [`http://127.0.0.1:${port}/a/`, `http://127.0.0.1:${port}/b/`],
        idleTimeoutMs: 2000,
      },
    });
    const err = await resolveDataset('mnist', opts).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetNotFoundError);
    const msg: string = err.message;
    expect(msg).not.toContain('\n');
    expect(msg).toMatch(/^dataset 'mnist' not found and could not be downloaded\. Looked in: /);
    const cache = join(root, 'home', '.cache', 'convlens', 'mnist');
    for (const place of [
      `--data-dir ${join(dd, 'mnist')} (not found)`,
      `--data-dir ${dd} (no t10k-images-idx3-ubyte[.gz] or t10k-labels-idx1-ubyte[.gz])`,
      `cache ${cache} (not found)`,
      `${join(root, 'sys', 'mnist')} (not found)`,
      '$CONVLENS_DATA_DIR (not set)',
      `http://127.0.0.1:${port}/a/train-images-idx3-ubyte.gz: connect ECONNREFUSED`,
      `http://127.0.0.1:${port}/b/train-images-idx3-ubyte.gz: connect ECONNREFUSED`,
      'pass --data-dir FOLDER, or set CONVLENS_DATA_DIR',
      't10k-labels-idx1-ubyte[.gz]',
    ]) {
      expect(msg).toContain(place);
    }
    expect(err.looked).toHaveLength(5);
    // The failed download leaves no cache folder behind.
    expect(await readdir(join(root, 'home')).catch(() => [])).toEqual([]);
  });

  it('with downloads off says so', async () => {
    await expect(resolveDataset('fashion-mnist', isolated())).rejects.toThrow(
      /^dataset 'fashion-mnist' not found and downloads are off\. Looked in: cache .*\/home\/\.cache\/convlens\/fashion-mnist \(not found\)/,
    );
  });
});
