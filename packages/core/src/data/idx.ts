/**
 * IDX reader/writer (the MNIST file format: http://yann.lecun.com/exdb/mnist/).
 * Layout: 2 zero bytes, a type code, the rank, then `rank` big-endian u32 dimensions, then the data.
 * Only unsigned bytes (type 0x08) are accepted: every image dataset convlens reads is stored that way,
 * and accepting other types would silently reinterpret their bytes as pixels.
 */
import type { ImageSet } from './types.ts';

/** A parsed IDX array: its dimensions and a view (no copy) of its unsigned-byte data. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UBYTE = 0x08;
const TYPE_NAMES: Record<number, string> = {
  8: 'unsigned byte',
  9: 'signed byte',
  11: 'int16',
  12: 'int32',
  13: 'float32',
  14: 'float64',
};
const MAX_RANK = 4;

const hex = (v: number, digits: number) => `0x${v.toString(16).padStart(digits, '0')}`;

/** Parses IDX bytes (already decompressed). Throws a one-line Error starting with `name` on any defect. */
export function parseIdx(bytes: Uint8Array, name: string): IdxArray {
  const fail = (what: string): never => {
    throw new Error(`${name}: ${what}`);
  };
  if (bytes.length < 4) fail(`not an IDX file: ${bytes.length} bytes, too short for the 4-byte magic number`);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) fail('IDX data is still gzip-compressed; decompress it first');
  const magic = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(`not an IDX file: bad magic number ${hex(magic, 8)} (expected 0x000008NN, NN = rank)`);
  }
  const type = bytes[2];
  if (type !== UBYTE) {
    const known = TYPE_NAMES[type];
    fail(
      known
        ? `unsupported IDX data type ${hex(type, 2)} (${known}); only unsigned-byte (0x08) IDX files are supported`
        : `not an IDX file: bad magic number ${hex(magic, 8)} (unknown type code ${hex(type, 2)})`,
    );
  }
  const rank = bytes[3];
  if (rank < 1 || rank > MAX_RANK) fail(`unsupported IDX rank ${rank} (expected 1..${MAX_RANK})`);
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    fail(`truncated IDX header: rank ${rank} needs ${headerBytes} header bytes, file has ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = bytes.length - headerBytes;
  const shape = dims.join('×');
  if (actual < expected)
    fail(`truncated IDX data: header says ${expected} bytes (${shape}), file has ${actual}`);
  if (actual > expected) {
    fail(
      `IDX size mismatch: header says ${expected} bytes (${shape}), file has ${actual} (${actual - expected} extra)`,
    );
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/** Encodes unsigned bytes as an IDX file (used for fixtures and exports). */
export function encodeIdx(data: Uint8Array, dims: number[]): Uint8Array {
  if (dims.length < 1 || dims.length > MAX_RANK)
    throw new Error(`encodeIdx: rank ${dims.length} not in 1..${MAX_RANK}`);
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) throw new Error(`encodeIdx: bad dimension ${d}`);
  }
  const expected = dims.reduce((a, b) => a * b, 1);
  if (expected !== data.length) {
    throw new Error(`encodeIdx: dims ${dims.join('×')} need ${expected} bytes, got ${data.length}`);
  }
  const headerBytes = 4 + 4 * dims.length;
  const out = new Uint8Array(headerBytes + data.length);
  const view = new DataView(out.buffer);
  out[2] = UBYTE;
  out[3] = dims.length;
  for (let i = 0; i < dims.length; i++) view.setUint32(4 + 4 * i, dims[i], false);
  out.set(data, headerBytes);
  return out;
}

export interface IdxToImageSetOptions {
  /** Declared class count; default max label + 1. */
  numClasses?: number;
  classNames?: string[];
}

/**
 * Pairs an images array (rank 3: N,H,W; rank 4: N,H,W,C) with a labels array (rank 1: N).
 * Errors name the offending file(s). Pixel and label bytes are views, not copies.
 */
export function idxToImageSet(
  images: IdxArray,
  labels: IdxArray,
  imagesName: string,
  labelsName: string,
  opts: IdxToImageSetOptions = {},
): ImageSet {
  if (images.dims.length !== 3 && images.dims.length !== 4) {
    throw new Error(
      `${imagesName}: images must be rank 3 (N,H,W) or 4 (N,H,W,C), got rank ${images.dims.length} (${images.dims.join('×')})`,
    );
  }
  if (labels.dims.length !== 1) {
    throw new Error(
      `${labelsName}: labels must be rank 1 (N), got rank ${labels.dims.length} (${labels.dims.join('×')})`,
    );
  }
  const [count, height, width, channels = 1] = images.dims;
  if (height === 0 || width === 0 || channels === 0) {
    throw new Error(`${imagesName}: empty image shape ${images.dims.slice(1).join('×')}`);
  }
  if (labels.dims[0] !== count) {
    throw new Error(
      `label/image count mismatch: ${imagesName} has ${count} images, ${labelsName} has ${labels.dims[0]} labels`,
    );
  }
  let maxLabel = -1;
  for (let i = 0; i < labels.data.length; i++) if (labels.data[i] > maxLabel) maxLabel = labels.data[i];
  const numClasses = opts.numClasses ?? maxLabel + 1;
  if (maxLabel >= numClasses) {
    throw new Error(`${labelsName}: label ${maxLabel} out of range for ${numClasses} classes`);
  }
  if (opts.classNames && opts.classNames.length !== numClasses) {
    throw new Error(`${labelsName}: ${opts.classNames.length} class names given for ${numClasses} classes`);
  }
  return {
    images: images.data,
    labels: labels.data,
    count,
    height,
    width,
    channels,
    numClasses,
    ...(opts.classNames ? { classNames: opts.classNames } : {}),
  };
}
