/**
 * Reads IDX files, gzipped or not, without trusting them: a gzip stream is inflated a chunk at a time
 * into a buffer of exactly the size its IDX header announces, and inflating stops the moment the data
 * runs past it (a 1 MB gzip bomb holding 1 GiB of zeros costs one header's worth of memory, not 1 GiB).
 */
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { type IdxArray, parseIdx } from '@convlens/core/data/idx';

/** The largest IDX data convlens reads (2 GiB: ≈ 2.7 million 28×28 images, or 14,000 224×224×3). */
export const MAX_IDX_BYTES = 2 ** 31;

const fmt = (n: number) => n.toLocaleString('en-US');
const MIB = 2 ** 20;

function cannotRead(path: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code;
  return new Error(
    `${path}: ${code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? (e as Error).message})`}`,
  );
}

/** Header length and announced data bytes, or undefined when `head` is not a valid IDX header yet. */
function announced(head: Uint8Array): { headerBytes: number; dataBytes: number; shape: string } | undefined {
  if (head.length < 4 || head[0] !== 0 || head[1] !== 0 || head[2] !== 0x08) return undefined;
  const rank = head[3];
  if (rank < 1 || rank > 4 || head.length < 4 + 4 * rank) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  return { headerBytes: 4 + 4 * rank, dataBytes: dims.reduce((a, b) => a * b, 1), shape: dims.join('×') };
}

function tooBig(path: string, bytes: number, shape: string): Error {
  return new Error(
    `${path}: IDX header announces ${fmt(bytes)} bytes (${shape}), more than the ${fmt(MAX_IDX_BYTES / MIB)} MiB limit`,
  );
}

async function gunzipIdx(path: string): Promise<Uint8Array> {
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  const source = createReadStream(path);
  source.on('error', (e) => gunzip.destroy(e));
  source.pipe(gunzip);
  let head = new Uint8Array(0);
  let out: Uint8Array | undefined;
  let n = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      if (!out) {
        const joined = new Uint8Array(head.length + chunk.length);
        joined.set(head);
        joined.set(chunk, head.length);
        head = joined;
        // A header's worst case is 20 bytes; anything invalid goes to parseIdx for its own message.
        const a = announced(head);
        if (!a) {
          if (head.length >= 20) return head.subarray(0, 20);
          continue;
        }
        if (a.dataBytes > MAX_IDX_BYTES) throw tooBig(path, a.dataBytes, a.shape);
        out = new Uint8Array(a.headerBytes + a.dataBytes);
        if (head.length > out.length) throw overrun(path, a.dataBytes, a.shape);
        out.set(head);
        n = head.length;
        continue;
      }
      if (n + chunk.length > out.length) {
        const a = announced(out)!;
        throw overrun(path, a.dataBytes, a.shape);
      }
      out.set(chunk, n);
      n += chunk.length;
    }
  } catch (e) {
    if ((e as Error).message?.startsWith(`${path}: `)) throw e;
    if ((e as NodeJS.ErrnoException).syscall) throw cannotRead(path, e);
    throw new Error(`${path}: corrupt or truncated gzip data (${(e as Error).message})`);
  } finally {
    source.destroy();
    gunzip.destroy();
  }
  return out ? out.subarray(0, n) : head;
}

function overrun(path: string, bytes: number, shape: string): Error {
  return new Error(
    `${path}: IDX size mismatch: header says ${bytes} bytes (${shape}), the gzip data holds more (stopped reading there)`,
  );
}

/** Reads an IDX file, gunzipping when its bytes start with the gzip magic (whatever its name). */
export async function readIdxFile(path: string): Promise<IdxArray> {
  let size: number;
  const magic = new Uint8Array(2);
  try {
    size = (await stat(path)).size;
    const fh = await open(path, 'r');
    try {
      await fh.read(magic, 0, 2, 0);
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw cannotRead(path, e);
  }
  if (magic[0] === 0x1f && magic[1] === 0x8b) return parseIdx(await gunzipIdx(path), path);
  if (size > MAX_IDX_BYTES + 20) {
    throw new Error(`${path}: ${fmt(size)} bytes, more than the ${fmt(MAX_IDX_BYTES / MIB)} MiB IDX limit`);
  }
  const bytes = await readFile(path).catch((e) => {
    throw cannotRead(path, e);
  });
  return parseIdx(bytes, path);
}
