import { describe, expect, it } from 'vitest';
import { encodeIdx, idxToImageSet, parseIdx } from '../src/data/idx.ts';

const bytes = (n: number, f = (i: number) => i % 256) => Uint8Array.from({ length: n }, (_, i) => f(i));

describe('parseIdx', () => {
  it('round-trips encodeIdx for ranks 1..4 with big-endian dims', () => {
    for (const dims of [[5], [3, 2], [2, 3, 4], [2, 3, 4, 3]]) {
      const data = bytes(dims.reduce((a, b) => a * b, 1));
      const file = encodeIdx(data, dims);
      expect(Array.from(file.subarray(0, 4))).toEqual([0, 0, 8, dims.length]);
      const parsed = parseIdx(file, 'f');
      expect(parsed.dims).toEqual(dims);
      expect(Array.from(parsed.data)).toEqual(Array.from(data));
    }
    // A dimension above 2^24 must be read as unsigned big-endian.
    const header = encodeIdx(new Uint8Array(0), [0x01020304, 0]).subarray(4, 8);
    expect(Array.from(header)).toEqual([1, 2, 3, 4]);
  });

  it('returns a view at the right offset of a subarray input', () => {
    const file = encodeIdx(
      bytes(6, (i) => 10 + i),
      [6],
    );
    const padded = new Uint8Array(file.length + 3);
    padded.set(file, 3);
    const parsed = parseIdx(padded.subarray(3), 'f');
    expect(Array.from(parsed.data)).toEqual([10, 11, 12, 13, 14, 15]);
  });

  it('rejects truncated data naming the file and both sizes', () => {
    const file = encodeIdx(bytes(10 * 28 * 28), [10, 28, 28]);
    expect(() => parseIdx(file.subarray(0, 16 + 1000), 't10k-images-idx3-ubyte.gz')).toThrow(
      /^t10k-images-idx3-ubyte\.gz: truncated IDX data: header says 7840 bytes \(10×28×28\), file has 1000$/,
    );
  });

  it('rejects trailing bytes (header/size mismatch)', () => {
    const file = encodeIdx(bytes(12), [3, 4]);
    const longer = new Uint8Array(file.length + 5);
    longer.set(file);
    expect(() => parseIdx(longer, 'x.idx')).toThrow(
      'x.idx: IDX size mismatch: header says 12 bytes (3×4), file has 17 (5 extra)',
    );
  });

  it('rejects a wrong magic number', () => {
    const file = encodeIdx(bytes(4), [4]);
    file[0] = 0x50;
    file[1] = 0x4b; // a zip file, say
    expect(() => parseIdx(file, 'labels')).toThrow(/^labels: not an IDX file: bad magic number 0x504b0801/);
  });

  it('rejects non-byte types, bad ranks, short files and still-gzipped data', () => {
    const f = encodeIdx(bytes(4), [4]);
    f[2] = 0x0d;
    expect(() => parseIdx(f, 'a')).toThrow(
      'a: unsupported IDX data type 0x0d (float32); only unsigned-byte (0x08)',
    );
    f[2] = 0x42;
    expect(() => parseIdx(f, 'a')).toThrow(
      /^a: not an IDX file: bad magic number 0x00004201 \(unknown type code 0x42\)/,
    );
    expect(() => parseIdx(Uint8Array.of(0, 0, 8, 0), 'r0')).toThrow(
      'r0: unsupported IDX rank 0 (expected 1..4)',
    );
    expect(() => parseIdx(Uint8Array.of(0, 0, 8, 5), 'r5')).toThrow(
      'r5: unsupported IDX rank 5 (expected 1..4)',
    );
    expect(() => parseIdx(Uint8Array.of(0, 0, 8, 3, 0, 0, 0, 1), 'h')).toThrow(
      'h: truncated IDX header: rank 3 needs 16 header bytes, file has 8',
    );
    expect(() => parseIdx(Uint8Array.of(0, 0), 's')).toThrow('s: not an IDX file: 2 bytes, too short');
    expect(() => parseIdx(Uint8Array.of(0x1f, 0x8b, 8, 0, 0), 'g')).toThrow(
      'g: IDX data is still gzip-compressed',
    );
  });

  it('errors are single-line', () => {
    try {
      parseIdx(Uint8Array.of(1, 2, 3, 4), 'z');
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).not.toContain('\n');
    }
  });
});

describe('encodeIdx', () => {
  it('rejects dims that do not match the data', () => {
    expect(() => encodeIdx(bytes(5), [2, 3])).toThrow('encodeIdx: dims 2×3 need 6 bytes, got 5');
    expect(() => encodeIdx(bytes(1), [])).toThrow(/rank 0/);
  });
});

describe('idxToImageSet', () => {
  const images3 = parseIdx(encodeIdx(bytes(3 * 2 * 2), [3, 2, 2]), 'img');
  const labels3 = parseIdx(encodeIdx(Uint8Array.of(0, 4, 2), [3]), 'lab');

  it('builds a rank-3 set with C=1 and numClasses = max label + 1', () => {
    const set = idxToImageSet(images3, labels3, 'img', 'lab');
    expect(set).toMatchObject({ count: 3, height: 2, width: 2, channels: 1, numClasses: 5 });
    expect(Array.from(set.labels)).toEqual([0, 4, 2]);
    expect(set.images.length).toBe(12);
    expect(set.classNames).toBeUndefined();
  });

  it('builds a rank-4 set and honours a declared class count and names', () => {
    const images = parseIdx(encodeIdx(bytes(2 * 2 * 3 * 3), [2, 2, 3, 3]), 'img');
    const labels = parseIdx(encodeIdx(Uint8Array.of(1, 0), [2]), 'lab');
    const set = idxToImageSet(images, labels, 'img', 'lab', { numClasses: 3, classNames: ['a', 'b', 'c'] });
    expect(set).toMatchObject({
      count: 2,
      height: 2,
      width: 3,
      channels: 3,
      numClasses: 3,
      classNames: ['a', 'b', 'c'],
    });
  });

  it('rejects a label/image count mismatch naming both files', () => {
    const labels = parseIdx(encodeIdx(Uint8Array.of(0, 1), [2]), 'train-labels-idx1-ubyte');
    expect(() =>
      idxToImageSet(images3, labels, 'train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte'),
    ).toThrow(
      'label/image count mismatch: train-images-idx3-ubyte.gz has 3 images, train-labels-idx1-ubyte has 2 labels',
    );
  });

  it('rejects wrong ranks, labels out of range and a wrong number of class names', () => {
    expect(() => idxToImageSet(labels3, labels3, 'lab-as-img', 'lab')).toThrow(
      'lab-as-img: images must be rank 3 (N,H,W) or 4 (N,H,W,C), got rank 1 (3)',
    );
    expect(() => idxToImageSet(images3, images3, 'img', 'img-as-lab')).toThrow(
      'img-as-lab: labels must be rank 1 (N), got rank 3 (3×2×2)',
    );
    expect(() => idxToImageSet(images3, labels3, 'img', 'lab', { numClasses: 4 })).toThrow(
      'lab: label 4 out of range for 4 classes',
    );
    expect(() => idxToImageSet(images3, labels3, 'img', 'lab', { classNames: ['x'] })).toThrow(
      'lab: 1 class names given for 5 classes',
    );
  });
});
