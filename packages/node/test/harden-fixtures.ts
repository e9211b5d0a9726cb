/** Hostile files built on the fly for the hardening tests: gzip and zip bombs, a huge PNG. */
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { crc32, createDeflate, createDeflateRaw, createGzip } from 'node:zlib';

/** An IDX images header announcing n×h×w unsigned bytes. */
export function idxHeader(n: number, h: number, w: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(0x803, 0);
  b.writeUInt32BE(n, 4);
  b.writeUInt32BE(h, 8);
  b.writeUInt32BE(w, 12);
  return b;
}

async function* zeros(mib: number, first?: Buffer) {
  if (first) yield first;
  const z = Buffer.alloc(1 << 20);
  for (let i = 0; i < mib; i++) yield z;
}

/** A gzip bomb: a 60000×28×28 IDX header followed by `mib` MiB of zeros (≈ 4.5 KB per MiB at level 1). */
export async function writeIdxBomb(path: string, mib: number, header = idxHeader(60000, 28, 28)) {
  await pipeline(zeros(mib, header), createGzip({ level: 1 }), createWriteStream(path));
}

/** `mib` MiB of zeros, raw-deflated (a few KB). */
export async function deflatedZeros(mib: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  const d = createDeflateRaw({ level: 9 });
  d.on('data', (c: Buffer) => parts.push(c));
  await pipeline(zeros(mib), d);
  return Buffer.concat(parts);
}

export interface ZipEntry {
  name: string;
  /** Stored bytes (already deflated when method is 8). */
  data: Uint8Array;
  method: 0 | 8;
  /** The inflated size written in both headers (may lie). */
  declared: number;
}

/** A minimal zip (no zip64), so tests can write headers that lie about sizes. */
export function buildZip(entries: ZipEntry[]): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const l = Buffer.alloc(30);
    l.writeUInt32LE(0x04034b50, 0);
    l.writeUInt16LE(20, 4);
    l.writeUInt16LE(e.method, 8);
    l.writeUInt32LE(e.data.length, 18);
    l.writeUInt32LE(e.declared, 22);
    l.writeUInt16LE(name.length, 26);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(e.method, 10);
    c.writeUInt32LE(e.data.length, 20);
    c.writeUInt32LE(e.declared, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt32LE(offset, 42);
    locals.push(l, name, Buffer.from(e.data));
    centrals.push(c, name);
    offset += 30 + name.length + e.data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/** A valid all-black grayscale PNG of width×height, its rows deflated as a stream (≈ 0.5 MB for 20000²). */
export async function writeBigPng(path: string, width: number, height: number): Promise<void> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth; colour type 0 (gray), deflate, no filter, no interlace
  const parts: Buffer[] = [];
  const d = createDeflate({ level: 9 });
  d.on('data', (c: Buffer) => parts.push(c));
  const row = Buffer.alloc(width + 1); // filter byte 0 + pixels
  async function* rows() {
    for (let y = 0; y < height; y++) yield row;
  }
  await pipeline(rows(), d);
  const fh = await open(path, 'w');
  await fh.write(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  await fh.write(chunk('IHDR', ihdr));
  await fh.write(chunk('IDAT', Buffer.concat(parts)));
  await fh.write(chunk('IEND', Buffer.alloc(0)));
  await fh.close();
}
