/**
 * A bounded zip reader for `.keras` files. Each entry's size from the central directory is checked
 * against a cap before anything is inflated, and inflating stops as soon as the output passes that
 * declared size (zlib's maxOutputLength), so a zip bomb costs at most the declared, capped size.
 * Only what Keras writes is supported: stored or deflated entries, zip64 sizes and offsets.
 */
import { inflateRawSync } from 'node:zlib';

/** Largest inflated entry read (2 GiB: more than any model this tool can hold in wasm memory). */
export const MAX_ZIP_ENTRY_BYTES = 2 ** 31;

const fmt = (n: number) => n.toLocaleString('en-US');

interface Entry {
  name: string;
  method: number;
  compressed: number;
  size: number;
  offset: number;
}

function u64(v: DataView, at: number): number {
  return v.getUint32(at, true) + v.getUint32(at + 4, true) * 2 ** 32;
}

function centralDirectory(bytes: Uint8Array, source: string): Entry[] {
  const bad = (what: string): never => {
    throw new Error(`${source}: not a readable .keras zip (${what})`);
  };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--)
    if (v.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd < 0) bad('no end of central directory');
  let count = v.getUint16(eocd + 10, true);
  let offset = v.getUint32(eocd + 16, true);
  if (
    (count === 0xffff || offset === 0xffffffff) &&
    eocd >= 20 &&
    v.getUint32(eocd - 20, true) === 0x07064b50
  ) {
    const z = u64(v, eocd - 12);
    if (z + 56 > bytes.length || v.getUint32(z, true) !== 0x06064b50) bad('bad zip64 end record');
    count = u64(v, z + 32);
    offset = u64(v, z + 48);
  }
  const entries: Entry[] = [];
  let p = offset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > bytes.length || v.getUint32(p, true) !== 0x02014b50) bad('truncated central directory');
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    const e: Entry = {
      name: new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen)),
      method: v.getUint16(p + 10, true),
      compressed: v.getUint32(p + 20, true),
      size: v.getUint32(p + 24, true),
      offset: v.getUint32(p + 42, true),
    };
    // zip64 extra field: the 64-bit values of the fields saturated above, in this order.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = v.getUint16(x, true);
      const len = v.getUint16(x + 2, true);
      if (id === 0x0001) {
        let q = x + 4;
        for (const k of ['size', 'compressed', 'offset'] as const)
          if (e[k] === 0xffffffff && q + 8 <= x + 4 + len) {
            e[k] = u64(v, q);
            q += 8;
          }
      }
      x += 4 + len;
    }
    entries.push(e);
    p = xEnd + commentLen;
  }
  return entries;
}

/**
 * Inflates the named entries (all when `names` is absent) of a zip held in memory, each capped at
 * `maxBytes` and at its declared size. Errors are one line naming the file and the entry.
 */
export function readZip(
  bytes: Uint8Array,
  source: string,
  names?: string[],
  maxBytes = MAX_ZIP_ENTRY_BYTES,
): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const e of centralDirectory(bytes, source)) {
    if (names && !names.includes(e.name)) continue;
    const where = `${source}: zip entry ${e.name}`;
    if (e.size > maxBytes)
      throw new Error(`${where} declares ${fmt(e.size)} bytes, more than the ${fmt(maxBytes)}-byte limit`);
    if (e.offset + 30 > bytes.length || v.getUint32(e.offset, true) !== 0x04034b50)
      throw new Error(`${where}: bad local header offset`);
    const start = e.offset + 30 + v.getUint16(e.offset + 26, true) + v.getUint16(e.offset + 28, true);
    if (start + e.compressed > bytes.length) throw new Error(`${where}: truncated (data runs past the file)`);
    const data = bytes.subarray(start, start + e.compressed);
    let inflated: Uint8Array;
    if (e.method === 0) inflated = data;
    else if (e.method === 8) {
      try {
        // One byte of slack: a result longer than declared is then seen (and stopped) right away.
        inflated = inflateRawSync(data, { maxOutputLength: e.size + 1 });
      } catch (err: any) {
        if (err?.code === 'ERR_BUFFER_TOO_LARGE')
          throw new Error(
            `${where} inflates beyond the ${fmt(e.size)} bytes its header declares (stopped there)`,
          );
        throw new Error(`${where}: corrupt deflate data (${err?.message})`);
      }
    } else throw new Error(`${where}: unsupported compression method ${e.method}`);
    if (inflated.length !== e.size)
      throw new Error(`${where} holds ${fmt(inflated.length)} bytes but its header declares ${fmt(e.size)}`);
    out[e.name] = inflated;
  }
  return out;
}
