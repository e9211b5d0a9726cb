/**
 * Downloads a dataset's files into a cache folder. Each file is streamed into a temporary file in the
 * same folder, checked against its md5, and only then renamed into place (atomic on one filesystem),
 * so the cache never holds a partial or corrupt file under a real name. Mirrors are tried in order.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rmdir, unlink } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { basename, dirname, join } from 'node:path';
import { checkWritableDir, ensureDir } from '../io/ensure-dir.ts';
import { type DatasetSpec, DOWNLOAD_ORDER, IDX_FILES } from './catalog.ts';

export interface DownloadOptions {
  /** Base URLs to use instead of the dataset's own mirrors (each joined with the file name). */
  mirrors?: string[];
  /** Called as bytes arrive; total is undefined when the server sends no length. */
  onProgress?: (received: number, total: number | undefined, file: string) => void;
  /** Called before each attempt (e.g. to label a progress bar). */
  onAttempt?: (file: string, url: string) => void;
  /** Give up on a mirror after this long without data (default 30 s). */
  idleTimeoutMs?: number;
}

const MAX_REDIRECTS = 5;

/** md5 of a file, hex. */
export async function md5File(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** GET that follows redirects and does not decode Content-Encoding (the md5 is of the bytes served). */
function request(url: string, idleTimeoutMs: number, redirects = 0): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? httpsGet : url.startsWith('http:') ? httpGet : undefined;
    if (!get) return reject(new Error(`unsupported URL ${url}`));
    const req = get(url, { headers: { 'accept-encoding': 'identity', 'user-agent': 'convlens' } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects >= MAX_REDIRECTS) return reject(new Error('too many redirects'));
        return resolve(request(new URL(res.headers.location, url).href, idleTimeoutMs, redirects + 1));
      }
      if (status !== 200) {
        res.resume();
        return reject(new Error(`HTTP ${status}`));
      }
      resolve(res);
    });
    req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`no data for ${idleTimeoutMs / 1000} s`)));
    req.on('error', reject);
  });
}

/** One attempt: stream url into a temp file next to dest, verify length and md5, rename. */
async function fetchVerified(url: string, dest: string, md5: string, opts: DownloadOptions): Promise<void> {
  const file = basename(dest);
  const tmp = join(
    dirname(dest),
    `.convlens-tmp-${file}-${process.pid}-${Math.random().toString(36).slice(2)}`,
  );
  const fh = await open(tmp, 'wx');
  let closed = false;
  try {
    const res = await request(url, opts.idleTimeoutMs ?? 30_000);
    const length = Number(res.headers['content-length']);
    const total = Number.isFinite(length) && length > 0 ? length : undefined;
    const hash = createHash('md5');
    let received = 0;
    opts.onProgress?.(0, total, file);
    for await (const chunk of res as AsyncIterable<Buffer>) {
      hash.update(chunk);
      await fh.write(chunk);
      received += chunk.length;
      opts.onProgress?.(received, total, file);
    }
    if (total !== undefined && received !== total)
      throw new Error(`truncated: got ${received} of ${total} bytes`);
    const got = hash.digest('hex');
    if (got !== md5) throw new Error(`md5 mismatch (got ${got}, expected ${md5})`);
    await fh.sync();
    await fh.close();
    closed = true;
    await rename(tmp, dest);
  } catch (e) {
    if (!closed) await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

/** Downloads one file from the first mirror that serves it with the right md5; returns that URL. */
export async function downloadFile(
  urls: string[],
  dest: string,
  md5: string,
  opts: DownloadOptions = {},
): Promise<string> {
  const reasons: string[] = [];
  for (const url of urls) {
    opts.onAttempt?.(basename(dest), url);
    try {
      await fetchVerified(url, dest, md5, opts);
      return url;
    } catch (e) {
      // 'aborted' is what Node reports when a server closes mid-body.
      const msg =
        (e as Error).message === 'aborted' ? 'connection closed mid-download' : (e as Error).message;
      reasons.push(`${url}: ${msg.replace(/\s+/g, ' ')}`);
    }
  }
  throw new Error(`${basename(dest)}: ${reasons.join('; ')}`);
}

/**
 * Downloads the four gzipped files of `spec` into dir (created if needed). Files already there with the
 * right md5 are kept. On failure, a folder this call created and left empty is removed again.
 */
export async function downloadDataset(
  spec: DatasetSpec,
  dir: string,
  opts: DownloadOptions = {},
): Promise<void> {
  // Guarded (a cache under /proc must fail, not loop in a recursive mkdir); remember the first new level.
  const { existing, missing } = await checkWritableDir(dir);
  await ensureDir(dir);
  const created = missing.length > 0 ? join(existing, missing[0]) : undefined;
  try {
    for (const role of DOWNLOAD_ORDER) {
      const file = `${IDX_FILES[role]}.gz`;
      const dest = join(dir, file);
      const have = await md5File(dest).catch(() => undefined);
      if (have === spec.md5[role]) continue;
      const urls = (opts.mirrors ?? spec.mirrors).map(
        (base) => new URL(file, base.endsWith('/') ? base : `${base}/`).href,
      );
      await downloadFile(urls, dest, spec.md5[role], opts);
    }
  } catch (e) {
    if (created) await removeEmptyDirs(dir, created);
    throw e;
  }
}

/** rmdir dir and its parents up to and including `top`, stopping at the first non-empty one. */
async function removeEmptyDirs(dir: string, top: string): Promise<void> {
  for (let d = dir; d.startsWith(top); d = dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
    if (d === top) return;
  }
}
