/**
 * Hostile files and places (issue 20, items 1, 2, 7, 10): output folders under /proc, gzip and zip
 * bombs, weight paths leading out of a model's folder, write errors that name the output, stray
 * labels, and images too large to decode. Every hostile file is built here; nothing big is committed.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { deflateRawSync, gzipSync } from 'node:zlib';
import { encodeIdx } from '@convlens/core/data/idx';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { modelShardUrl } from '@convlens/core/models/shard-url';
import h5wasm from 'h5wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATASETS } from '../src/data/catalog.ts';
import { downloadDataset } from '../src/data/download.ts';
import { loadDataset } from '../src/data/load.ts';
import { readIdxFile } from '../src/data/read-idx.ts';
import { importModel } from '../src/import/import-model.ts';
import { openH5, readTensor } from '../src/import/keras-h5.ts';
import { loadKerasZip } from '../src/import/keras-zip.ts';
import { fetchLayersModel } from '../src/import/tfjs-url.ts';
import { writeDirAtomic, writeFileAtomic } from '../src/io/atomic.ts';
import { checkOutputFlag, ensureDir } from '../src/io/ensure-dir.ts';
import { loadModel, saveModel } from '../src/io/model-io.ts';
import { readImage } from '../src/io/png.ts';
import { describeFsError, registerOutput } from '../src/io/write-errors.ts';
import { buildZip, deflatedZeros, idxHeader, writeBigPng, writeIdxBomb } from './harden-fixtures.ts';

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'convlens-harden-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('output folders (ensureDir)', () => {
  it('refuses /proc, /sys and /dev in milliseconds, naming the flag, and creates nothing', async () => {
    for (const p of [
      '/proc/convlens-x',
      '/proc/convlens-x/a/b',
      '/proc/self/convlens-x',
      '/sys/convlens-x',
      '/dev/convlens-x',
    ]) {
      const t = performance.now();
      const err = await ensureDir(p, '--out').then(
        () => undefined,
        (e: Error) => e.message,
      );
      const ms = performance.now() - t;
      expect(err).toMatch(new RegExp(`^--out ${p}: cannot write there \\(`));
      expect(ms).toBeLessThan(1000);
    }
    await expect(stat('/proc/convlens-x')).rejects.toThrow();
  });

  it('names a file in the way, creates missing levels, and accepts an existing folder', async () => {
    await writeFile(join(dir, 'afile'), 'x');
    await expect(ensureDir(join(dir, 'afile', 'sub'), '--out')).rejects.toThrow(
      `--out ${join(dir, 'afile', 'sub')}: cannot write there (a file is in the way)`,
    );
    await expect(ensureDir(join(dir, 'afile'), '--out')).rejects.toThrow(
      `--out ${join(dir, 'afile')}: exists and is not a directory`,
    );
    const deep = join(dir, 'a', 'b', 'c');
    expect(await ensureDir(deep, '--out')).toBe(resolve(deep));
    expect((await stat(deep)).isDirectory()).toBe(true);
    await ensureDir(deep, '--out');
  });

  it('a download cache under /proc fails at once, before any network access', async () => {
    const t = performance.now();
    await expect(
      downloadDataset(DATASETS.mnist, '/proc/convlens-cache/mnist', { mirrors: ['http://127.0.0.1:9/'] }),
    ).rejects.toThrow('/proc/convlens-cache/mnist: cannot write there (/proc holds kernel or device files)');
    expect(performance.now() - t).toBeLessThan(1000);
  });

  it('writeFileAtomic under /proc fails at once instead of looping in a recursive mkdir', async () => {
    const t = performance.now();
    await expect(writeFileAtomic('/proc/convlens-x/run.json', '{}')).rejects.toThrow(/cannot write there/);
    expect(performance.now() - t).toBeLessThan(1000);
  });
});

describe('gzip bombs (IDX)', () => {
  it('a 1 GiB bomb stops at the header size: one line, under 200 MB peak RSS in a child', async () => {
    const bomb = join(dir, 'bomb-images-idx3-ubyte.gz');
    await writeIdxBomb(bomb, 1024);
    const compressed = (await stat(bomb)).size;
    expect(compressed).toBeLessThan(6e6);
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', resolve(import.meta.dirname, 'harden-rss-child.ts'), 'idx', bomb],
      { cwd: resolve(import.meta.dirname, '..') },
    );
    const r = JSON.parse(stdout);
    console.log(
      `IDX gzip bomb (${(compressed / 1e6).toFixed(1)} MB → 1 GiB): ${r.seconds.toFixed(2)} s, peak RSS ${r.maxRssMB.toFixed(0)} MB`,
    );
    expect(r.error).toBe(
      `${bomb}: IDX size mismatch: header says 47040000 bytes (60000×28×28), the gzip data holds more (stopped reading there)`,
    );
    expect(r.maxRssMB).toBeLessThan(200);
    expect(r.seconds).toBeLessThan(10);
  });

  it('a header announcing an absurd size is refused before inflating', async () => {
    const f = join(dir, 'huge-header.gz');
    await writeFile(f, gzipSync(Buffer.concat([idxHeader(0xffffffff, 0xffff, 28), Buffer.alloc(64)])));
    await expect(readIdxFile(f)).rejects.toThrow(
      /announces .* bytes \(4294967295×65535×28\), more than the 2,048 MiB limit/,
    );
  });

  it('a well-formed gzip IDX still reads exactly', async () => {
    const f = join(dir, 'ok.gz');
    await writeFile(f, gzipSync(encodeIdx(Uint8Array.from([1, 2, 3, 4, 5, 6]), [2, 3])));
    const a = await readIdxFile(f);
    expect(a.dims).toEqual([2, 3]);
    expect([...a.data]).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('zip bombs (.keras)', () => {
  const config = { name: 'config.json', data: Buffer.from('{}'), method: 0 as const, declared: 2 };

  it('an entry inflating far beyond its declared size is stopped there, with one line', async () => {
    const data = await deflatedZeros(64);
    expect(data.length).toBeLessThan(100_000);
    const zip = buildZip([config, { name: 'model.weights.h5', data, method: 8, declared: 1000 }]);
    await expect(loadKerasZip(zip, 'bomb.keras')).rejects.toThrow(
      'bomb.keras: zip entry model.weights.h5 inflates beyond the 1,000 bytes its header declares (stopped there)',
    );
  });

  it('a declared size beyond the cap is refused from the header (config.json: 64 MiB)', async () => {
    const small = deflateRawSync(Buffer.alloc(10));
    const big = buildZip([
      config,
      { name: 'model.weights.h5', data: small, method: 8, declared: 0xc0000000 },
    ]);
    await expect(loadKerasZip(big, 'big.keras')).rejects.toThrow(
      'big.keras: zip entry model.weights.h5 declares 3,221,225,472 bytes, more than the 2,147,483,648-byte limit',
    );
    const cfg = buildZip([{ name: 'config.json', data: small, method: 8, declared: 100 * 2 ** 20 }]);
    await expect(loadKerasZip(cfg, 'cfg.keras')).rejects.toThrow(
      /cfg.keras: zip entry config.json declares 104,857,600 bytes/,
    );
  });

  it('a 1 GiB zip bomb stays under 200 MB peak RSS in a child', async () => {
    const data = await deflatedZeros(1024);
    const f = join(dir, 'bomb.keras');
    await writeFile(f, buildZip([{ name: 'model.weights.h5', data, method: 8, declared: 1 << 20 }]));
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', resolve(import.meta.dirname, 'harden-rss-child.ts'), 'zip', f],
      { cwd: resolve(import.meta.dirname, '..') },
    );
    const r = JSON.parse(stdout);
    console.log(
      `zip bomb (${(data.length / 1e6).toFixed(1)} MB → 1 GiB): ${r.seconds.toFixed(2)} s, peak RSS ${r.maxRssMB.toFixed(0)} MB`,
    );
    expect(r.error).toMatch(/inflates beyond the 1,048,576 bytes its header declares/);
    expect(r.maxRssMB).toBeLessThan(200);
  });
});

describe('HDF5 weights (.h5, .keras)', () => {
  it('a dataset declaring 2^30 values in a 3 KB file is refused from its shape, before reading', async () => {
    await h5wasm.ready;
    const name = join(dir, 'bomb.h5');
    const f = new h5wasm.File(name, 'w');
    const opts = { name: 'x', data: new Float32Array(4), shape: [4], maxshape: [null], chunks: [1024] };
    f.create_dataset(opts).resize([2 ** 30]); // unallocated chunks: nothing stored
    f.close();
    const bytes = await readFile(name);
    expect(bytes.length).toBeLessThan(10_000);
    const { file, close } = await openH5(bytes, 'bomb.h5');
    try {
      expect(() => readTensor(file.get('x') as any, 'bomb.h5:x')).toThrow(
        'bomb.h5:x: weight declares 1,073,741,824 values (1073741824), more than the 268,435,456 limit',
      );
    } finally {
      close();
    }
  });
});

describe('weight paths outside the model folder', () => {
  let model: string;
  let weights: Buffer;
  beforeAll(async () => {
    model = join(dir, 'm');
    const m = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
    await saveModel(m, model);
    m.dispose();
    weights = await readFile(join(model, 'weights.bin'));
    expect(weights.length).toBe(32);
    // A file outside the folder with exactly the size the manifest needs.
    await writeFile(join(dir, 'secret.bin'), Buffer.alloc(32, 7));
  });

  async function withPaths(paths: string[]) {
    const json = JSON.parse(await readFile(join(model, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = paths;
    const d = await mkdtemp(join(dir, 'mm-'));
    await writeFile(join(d, 'model.json'), JSON.stringify(json));
    await writeFile(join(d, 'weights.bin'), weights);
    return d;
  }

  it('../secret.bin of the right size is refused, naming the model and the path', async () => {
    const d = await withPaths(['../secret.bin']);
    await expect(loadModel(d)).rejects.toThrow(
      `${join(d, 'model.json')}: weight path "../secret.bin" leads outside the model's folder; refused`,
    );
    await expect(importModel(d)).rejects.toThrow(/weight path "\.\.\/secret\.bin" leads outside/);
  });

  it('absolute paths and URLs are refused', async () => {
    for (const p of [join(dir, 'secret.bin'), 'file:///etc/passwd']) {
      const d = await withPaths([p]);
      await expect(loadModel(d)).rejects.toThrow(/is not relative to the model folder; refused/);
    }
  });

  it('a symlink inside the folder pointing outside is refused; one pointing inside loads', async () => {
    const d = await withPaths(['link.bin']);
    await symlink(join(dir, 'secret.bin'), join(d, 'link.bin'));
    await expect(loadModel(d)).rejects.toThrow(
      /weight path "link\.bin" is a link to .*secret\.bin, outside the model's folder; refused/,
    );
    const ok = await withPaths(['inner.bin']);
    await symlink('weights.bin', join(ok, 'inner.bin'));
    const { model: m } = await loadModel(ok);
    expect(m.getWeights()[1].shape).toEqual([2]);
    m.dispose();
  });

  it("over http: shards outside model.json's directory or origin are refused before any fetch", async () => {
    const json = JSON.parse(await readFile(join(model, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = ['../secret.bin'];
    const asked: string[] = [];
    const server: Server = createServer((req, res) => {
      asked.push(req.url ?? '');
      if (req.url === '/m/model.json') res.end(JSON.stringify(json));
      else res.end(Buffer.alloc(32, 7));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      await expect(fetchLayersModel(`${base}/m/model.json`)).rejects.toThrow(
        `${base}/m/model.json: weight path "../secret.bin" leads outside ${base}/m/; refused`,
      );
      expect(asked).toEqual(['/m/model.json']);
    } finally {
      server.close();
    }
    expect(() => modelShardUrl('http://a.example/m/model.json', 'http://b.example/m/w.bin')).toThrow(
      /is on another origin \(http:\/\/b\.example\)/,
    );
    expect(() => modelShardUrl('http://a.example/m/model.json', '%2e%2e/w.bin')).toThrow(/leads outside/);
    expect(modelShardUrl('http://a.example/m/model.json', 'sub/w.bin')).toBe('http://a.example/m/sub/w.bin');
  });
});

/** Mounts a small tmpfs (root only); undefined where mounting is not allowed. */
function tmpfs(at: string, opts: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', at], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const umount = (at: string) => execFileSync('umount', [at], { stdio: 'ignore' });

describe('write errors name the output', () => {
  it('a real ENOSPC (from /dev/full) becomes "--out DIR: no space left on device"', async () => {
    const err = await writeFile('/dev/full', 'x').catch((e) => e);
    expect(err.code).toBe('ENOSPC');
    const out = join(dir, 'run-full');
    registerOutput(out, '--out');
    expect((describeFsError(err) as Error).message).toBe(`--out ${out}: no space left on device`);
  });

  it('a full disk while writing atomically names --out, leaves no temp file', async () => {
    const at = join(dir, 'full');
    await mkdir(at);
    if (!tmpfs(at, 'size=64k')) return console.log('skipped: cannot mount a tmpfs here');
    try {
      const out = join(at, 'run');
      await checkOutputFlag(out, '--out');
      await expect(writeFileAtomic(join(out, 'model', 'weights.bin'), Buffer.alloc(1 << 20))).rejects.toThrow(
        `--out ${out}: no space left on device (writing model/weights.bin)`,
      );
      await expect(
        writeDirAtomic(join(out, 'ckpt'), (tmp) => writeFile(join(tmp, 'w.bin'), Buffer.alloc(1 << 20))),
      ).rejects.toThrow(`--out ${out}: no space left on device (writing ckpt)`);
      // A temporary folder of the caller's (a checkpoint swap) is named by what it stands for.
      await expect(
        writeFileAtomic(join(out, '.last.tmp-12-ab', 'w.bin'), Buffer.alloc(1 << 20)),
      ).rejects.toThrow(`--out ${out}: no space left on device (writing last/w.bin)`);
      await rm(join(out, '.last.tmp-12-ab'), { recursive: true });
      expect(await readdir(out)).toEqual(['model']);
      expect(await readdir(join(out, 'model'))).toEqual([]);
    } finally {
      umount(at);
    }
  });

  it('an unwritable parent (explain’s temp sibling) names --out, not the .tmp- path', async () => {
    const at = join(dir, 'ro');
    await mkdir(at);
    let undo: () => void;
    if (process.getuid?.() !== 0) {
      execFileSync('chmod', ['555', at]);
      undo = () => execFileSync('chmod', ['755', at]);
    } else if (tmpfs(at, 'size=64k,ro')) undo = () => umount(at);
    else return console.log('skipped: root without mount');
    try {
      const out = join(at, 'explain-out');
      registerOutput(out, '--out');
      const err = await writeDirAtomic(out, async () => {}).then(
        () => undefined,
        (e: Error) => e.message,
      );
      expect(err).toMatch(
        new RegExp(`^--out ${out}: (permission denied|read-only file system|cannot write there)`),
      );
      expect(err).not.toMatch(/\.tmp-/);
    } finally {
      undo();
    }
  });
});

describe('datasets that cannot train', () => {
  const opts = { env: {}, homeDir: '/nonexistent', systemDirs: [], download: false };
  async function idxDir(labels: number[], n = labels.length) {
    const d = await mkdtemp(join(dir, 'idx-'));
    await writeFile(join(d, 't10k-images-idx3-ubyte'), encodeIdx(new Uint8Array(n * 4), [n, 2, 2]));
    await writeFile(join(d, 't10k-labels-idx1-ubyte'), encodeIdx(Uint8Array.from(labels), [labels.length]));
    return d;
  }

  it('one label of 200 among 0–9 is refused instead of making a 201-class model', async () => {
    const labels = Array.from({ length: 100 }, (_, i) => i % 10);
    labels[37] = 200;
    const d = await idxDir(labels);
    await expect(loadDataset(d, opts)).rejects.toThrow(
      `${join(d, 't10k-labels-idx1-ubyte')}: label 200 (1 image) beyond the others (0–9): that would train a 201-class model with 190 classes that have no images`,
    );
    // Reading it to evaluate a model is still allowed (the model decides the classes).
    expect((await loadDataset(d, { ...opts, train: false })).test.numClasses).toBe(201);
  });

  it('0 images, or a single class, are said in words', async () => {
    const empty = await idxDir([], 0);
    await expect(loadDataset(empty, opts)).rejects.toThrow(
      `${join(empty, 't10k-images-idx3-ubyte')}: holds no images (0 in its IDX header)`,
    );
    const one = await idxDir([0, 0, 0, 0]);
    await expect(loadDataset(one, opts)).rejects.toThrow(
      `${join(one, 't10k-labels-idx1-ubyte')}: every label is 0: only one class; training a classifier needs at least 2`,
    );
  });
});

describe('images too large to decode', () => {
  it('a valid 20000×20000 PNG is refused in megapixels, not as unreadable', async () => {
    const f = join(dir, 'huge.png');
    await writeBigPng(f, 20000, 20000);
    expect((await stat(f)).size).toBeLessThan(2e6);
    await expect(readImage(f, { width: 224, height: 224, channels: 3 })).rejects.toThrow(
      `${f}: image is 20000×20000: 400 megapixels exceeds the limit of 100 megapixels`,
    );
  });
});
