import { describe, expect, it } from 'vitest';
import {
  applyPreprocess,
  CAFFE_BGR_MEAN,
  classNamesFromMetadata,
  parsePreprocess,
} from '../src/preprocess/presets.ts';

// One RGB pixel with distinct channels so a channel swap or wrong constant shows.
const px = new Float32Array([0.2, 0.6, 1.0]);

describe('preprocessing presets', () => {
  it('scale-1-1 maps [0,1] to [-1,1] (MobileNet x/127.5-1)', () => {
    expect([...applyPreprocess({ preset: 'scale-1-1' }, px, 3)]).toEqual(
      [...px].map((v) => Math.fround(Math.fround(v * 255) / 127.5 - 1)).map((v) => expect.closeTo(v, 6)),
    );
  });
  it('caffe swaps to BGR on 0..255 and subtracts the BGR means', () => {
    const out = applyPreprocess({ preset: 'caffe' }, px, 3);
    expect(out[0]).toBeCloseTo(255 - CAFFE_BGR_MEAN[0], 3); // B from the R=1.0 slot
    expect(out[1]).toBeCloseTo(0.6 * 255 - 116.779, 3);
    expect(out[2]).toBeCloseTo(0.2 * 255 - 123.68, 3);
  });
  it('torch standardizes per RGB channel with ImageNet mean/std', () => {
    const out = applyPreprocess({ preset: 'torch' }, px, 3);
    expect(out[0]).toBeCloseTo((0.2 - 0.485) / 0.229, 5);
    expect(out[2]).toBeCloseTo((1.0 - 0.406) / 0.225, 5);
    expect(() => applyPreprocess({ preset: 'torch' }, new Float32Array(4), 1)).toThrow(/RGB/);
  });
  it('per-pixel uses the stored statistics and round-trips through JSON', () => {
    const p = parsePreprocess(
      JSON.parse(
        JSON.stringify({
          preset: 'per-pixel',
          standardizer: {
            kind: 'per-pixel',
            height: 1,
            width: 1,
            channels: 3,
            epsilon: 0.01,
            mean: [0.1, 0.5, 0.5],
            std: [0.5, 0.25, 2],
          },
          classNames: ['a', 'b'],
        }),
      ),
      'preprocess.json',
    );
    expect([...applyPreprocess(p, px, 3)].map((v) => +v.toFixed(5))).toEqual([0.2, 0.4, 0.25]);
    expect(p.classNames).toEqual(['a', 'b']);
  });
  it('rejects unknown presets naming the file', () => {
    expect(() => parsePreprocess({ preset: 'vgg' }, 'run/preprocess.json')).toThrow(
      /run\/preprocess.json: unknown preset 'vgg'/,
    );
  });
  it('reads class names from a metadata.json', () => {
    expect(classNamesFromMetadata({ labels: ['x', 'y'] })).toEqual(['x', 'y']);
    expect(classNamesFromMetadata({ foo: 1 })).toBeUndefined();
  });
});
