/**
 * Typed arrays in JSON as base64 of their little-endian bytes: exact (float64 sums round-trip
 * bit for bit, which merging relies on) and ~3× smaller than number lists. Browser-safe (no Buffer).
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const LOOKUP = new Uint8Array(128);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

export function toBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  let chunk = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i];
    const b = i + 1 < bytes.length ? bytes[i + 1] : 0;
    const c = i + 2 < bytes.length ? bytes[i + 2] : 0;
    const n = (a << 16) | (b << 8) | c;
    chunk +=
      ALPHABET[n >> 18] +
      ALPHABET[(n >> 12) & 63] +
      (i + 1 < bytes.length ? ALPHABET[(n >> 6) & 63] : '=') +
      (i + 2 < bytes.length ? ALPHABET[n & 63] : '=');
    if (chunk.length >= 65536) {
      parts.push(chunk);
      chunk = '';
    }
  }
  parts.push(chunk);
  return parts.join('');
}

export function fromBase64(s: string): Uint8Array {
  if (typeof s !== 'string' || s.length % 4 !== 0) throw new Error('corrupt base64 data');
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const n =
      (LOOKUP[s.charCodeAt(i)] << 18) |
      (LOOKUP[s.charCodeAt(i + 1)] << 12) |
      (LOOKUP[s.charCodeAt(i + 2)] << 6) |
      LOOKUP[s.charCodeAt(i + 3)];
    if (o < out.length) out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
/** Copies into a fresh, aligned buffer before viewing as T. */
const aligned = (s: string) => fromBase64(s).slice().buffer;

export const encodeF64 = (a: Float64Array): string => toBase64(bytesOf(a));
export const decodeF64 = (s: string, length: number, what: string): Float64Array =>
  checkLength(new Float64Array(aligned(s)), length, what);
export const encodeU32 = (a: Uint32Array): string => toBase64(bytesOf(a));
export const decodeU32 = (s: string, length: number, what: string): Uint32Array =>
  checkLength(new Uint32Array(aligned(s)), length, what);
export const encodeU8 = (a: Uint8Array): string => toBase64(a);

function checkLength<T extends { length: number }>(a: T, length: number, what: string): T {
  if (a.length !== length) throw new Error(`${what}: expected ${length} values, found ${a.length}`);
  return a;
}
