import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DATASETS, type DatasetSpec, IDX_FILES, type IdxRole } from '../src/data/catalog.ts';
import { downloadDataset, downloadFile, md5File } from '../src/data/download.ts';
import { loadDataset } from '../src/data/load.ts';
import { fixtureSplit, tempDir } from './data-fixtures.ts';

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

/** Gzipped fixture files by name, as a mirror would serve them. */
const files = new Map<string, Buffer>();
{
  const train = fixtureSplit(30, 4, 3, 10, 3);
  const test = fixtureSplit(20, 4, 3, 10, 1);
  files.set(`${IDX_FILES.trainImages}.gz`, gzipSync(train.images));
  files.set(`${IDX_FILES.trainLabels}.gz`, gzipSync(train.labels));
  files.set(`${IDX_FILES.testImages}.gz`, gzipSync(test.images));
  files.set(`${IDX_FILES.testLabels}.gz`, gzipSync(test.labels));
}
const fixtureMd5 = Object.fromEntries(
  (Object.keys(IDX_FILES) as IdxRole[]).map((r) => [r, md5(files.get(`${IDX_FILES[r]}.gz`)!)]),
) as Record<IdxRole, string>;
const spec: DatasetSpec = { name: 'tiny', classNames: [], mirrors: [], md5: fixtureMd5 };

/**
 * Mirrors on 127.0.0.1: /good/ serves the files, /corrupt/ serves a flipped byte, /missing/ 404s,
 * /truncated/ promises the full length then hangs up halfway, /chunked/ sends half with no length,
 * /moved/ redirects to /good/, /stall/ never answers.
 */
let server: Server;
let base: string;
const hits: string[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url!);
    const [, kind, name] = req.url!.split('/');
    const body = files.get(name);
    if (kind === 'stall') return;
    if (!body || kind === 'missing') {
      res.writeHead(404).end('not found');
      return;
    }
    if (kind === 'good') res.writeHead(200, { 'content-length': body.length }).end(body);
    else if (kind === 'moved') res.writeHead(302, { location: `/good/${name}` }).end();
    else if (kind === 'corrupt') {
      const bad = Buffer.from(body);
      bad[bad.length >> 1] ^= 0xff;
      res.writeHead(200, { 'content-length': bad.length }).end(bad);
    } else if (kind === 'truncated') {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
    } else if (kind === 'chunked') res.writeHead(200).end(body.subarray(0, body.length >> 1));
    else res.writeHead(500).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((r) => server.close(() => r()));
});

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  hits.length = 0;
});
afterEach(() => cleanup());

const testFile = `${IDX_FILES.testLabels}.gz`;

describe('downloadFile', () => {
  it('downloads, verifies and reports progress up to the full length', async () => {
    const progress: [number, number | undefined][] = [];
    const dest = join(dir, testFile);
    const url = await downloadFile([`${base}/good/${testFile}`], dest, fixtureMd5.testLabels, {
      onProgress: (r, t) => progress.push([r, t]),
    });
    expect(url).toBe(`${base}/good/${testFile}`);
    expect(Buffer.compare(await readFile(dest), files.get(testFile)!)).toBe(0);
    const size = files.get(testFile)!.length;
    expect(progress[0]).toEqual([0, size]);
    expect(progress.at(-1)).toEqual([size, size]);
    expect(await readdir(dir)).toEqual([testFile]);
  });

  it('falls through bad mirrors in order and names each failure when all fail', async () => {
    const kinds = ['missing', 'corrupt', 'truncated', 'chunked', 'stall'];
    const dest = join(dir, testFile);
    const attempts: string[] = [];
    const err = await downloadFile(
      kinds.map((k) => `${base}/${k}/${testFile}`),
      dest,
      fixtureMd5.testLabels,
      { idleTimeoutMs: 300, onAttempt: (_f, u) => attempts.push(u.split('/')[3]) },
    ).catch((e: Error) => e);
    expect(attempts).toEqual(kinds);
    const msg = (err as Error).message;
    expect(msg).not.toContain('\n');
    expect(msg).toContain(`${testFile}: ${base}/missing/${testFile}: HTTP 404; `);
    expect(msg).toMatch(
      new RegExp(
        `/corrupt/${testFile}: md5 mismatch \\(got [0-9a-f]{32}, expected ${fixtureMd5.testLabels}\\)`,
      ),
    );
    expect(msg).toMatch(/\/truncated\/\S+: (connection closed mid-download|truncated: got \d+ of \d+ bytes)/);
    expect(msg).toContain(`/chunked/${testFile}: md5 mismatch`);
    expect(msg).toContain(`/stall/${testFile}: no data for 0.3 s`);
    // Nothing is left behind: no final file, no temp files.
    expect(await readdir(dir)).toEqual([]);
  });

  it('follows redirects', async () => {
    const dest = join(dir, testFile);
    await downloadFile([`${base}/moved/${testFile}`], dest, fixtureMd5.testLabels);
    expect(await md5File(dest)).toBe(fixtureMd5.testLabels);
    expect(hits).toEqual([`/moved/${testFile}`, `/good/${testFile}`]);
  });
});

describe('downloadDataset', () => {
  it('fetches all four files (training first), trying the next mirror on failure', async () => {
    const target = join(dir, 'cache', 'tiny');
    await downloadDataset(spec, target, { mirrors: [`${base}/corrupt`, `${base}/good/`] });
    expect((await readdir(target)).sort()).toEqual([...files.keys()].sort());
    for (const [name, body] of files)
      expect(Buffer.compare(await readFile(join(target, name)), body)).toBe(0);
    expect(hits.filter((h) => h.startsWith('/good/'))).toEqual([
      '/good/train-images-idx3-ubyte.gz',
      '/good/train-labels-idx1-ubyte.gz',
      '/good/t10k-images-idx3-ubyte.gz',
      '/good/t10k-labels-idx1-ubyte.gz',
    ]);
  });

  it('keeps files already verified and replaces a corrupt one', async () => {
    const target = join(dir, 'tiny');
    await mkdir(target);
    await writeFile(join(target, `${IDX_FILES.trainImages}.gz`), files.get(`${IDX_FILES.trainImages}.gz`)!);
    await writeFile(join(target, `${IDX_FILES.trainLabels}.gz`), 'garbage');
    await downloadDataset(spec, target, { mirrors: [`${base}/good/`] });
    expect(hits).toEqual([
      '/good/train-labels-idx1-ubyte.gz',
      '/good/t10k-images-idx3-ubyte.gz',
      '/good/t10k-labels-idx1-ubyte.gz',
    ]);
    expect(await md5File(join(target, `${IDX_FILES.trainLabels}.gz`))).toBe(fixtureMd5.trainLabels);
  });

  it('on failure removes the folders it created and leaves no partial files', async () => {
    const target = join(dir, 'a', 'b', 'tiny');
    await expect(downloadDataset(spec, target, { mirrors: [`${base}/truncated/`] })).rejects.toThrow(
      /^train-images-idx3-ubyte\.gz: http:\/\/127\.0\.0\.1:\d+\/truncated\/train-images-idx3-ubyte\.gz: /,
    );
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('resolve → download → load', () => {
  it('downloads into the cache when no folder has the dataset, then loads it', async () => {
    const saved = DATASETS.mnist.md5;
    DATASETS.mnist.md5 = fixtureMd5; // the fixture stands in for the real files
    try {
      const seen: string[] = [];
      const loaded = await loadDataset('mnist', {
        env: { XDG_CACHE_HOME: join(dir, 'xdg') },
        systemDirs: [],
        downloadOptions: {
          mirrors: [`${base}/missing/`, `${base}/good/`],
          onProgress: (r, t, f) => r === t && seen.push(f),
        },
      });
      expect(loaded.resolved.origin).toBe('download');
      expect(loaded.dir).toBe(join(dir, 'xdg', 'convlens', 'mnist'));
      expect(seen).toEqual([...files.keys()]);
      expect(loaded.train?.count).toBe(30);
      expect(loaded.test.count).toBe(20);
      expect(loaded.test.classNames?.[7]).toBe('7');
      expect(loaded.provenance).toEqual({ dataset: 'mnist', source: loaded.dir, split: 'standard' });
    } finally {
      DATASETS.mnist.md5 = saved;
    }
  });
});
