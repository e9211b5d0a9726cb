import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseOnnxModel, parseOnnxTensor } from '../src/onnx/parse.ts';
import { encodeOnnx, floatInfo, model, rawFloat } from './helpers/onnx-build.ts';

// A Conv → Reshape → Gemm net with every way ONNX stores tensor data: raw float, raw int64, typed
// float_data, int64_data, float16 bits in int32_data.
function convNet(opset = 13): Uint8Array {
  const half = [0x3c00, 0xc000, 0x3555, 0x0001]; // 1, -2, 0.33325, smallest subnormal
  return model(
    {
      name: 'net',
      node: [
        {
          op_type: 'Conv',
          name: 'conv1',
          input: ['x', 'w', 'b'],
          output: ['c'],
          attribute: [
            { name: 'kernel_shape', type: 7, ints: [3, 3] },
            { name: 'pads', type: 7, ints: [1, 1, 1, 1] },
            { name: 'group', type: 2, i: 1 },
          ],
        },
        { op_type: 'Reshape', input: ['c', 'shape'], output: ['r'] }, // unnamed: defaulted
        {
          op_type: 'Gemm',
          input: ['r', 'gw', 'gb'],
          output: ['y'],
          attribute: [
            { name: 'alpha', type: 1, f: 0.5 },
            { name: 'transB', type: 2, i: 1 },
          ],
        },
        {
          op_type: 'Constant',
          output: ['k'],
          attribute: [
            { name: 'value', type: 4, t: { dims: [4], data_type: 10, int32_data: half } },
            { name: 'note', type: 3, s: new TextEncoder().encode('é') },
          ],
        },
      ],
      initializer: [
        rawFloat(
          'w',
          [2, 1, 3, 3],
          Array.from({ length: 18 }, (_, i) => i - 9),
        ),
        { name: 'b', dims: [2], data_type: 1, float_data: [0.25, -0.5] },
        {
          name: 'shape',
          dims: [2],
          data_type: 7,
          raw_data: new Uint8Array(new BigInt64Array([1n, -1n]).buffer),
        },
        { name: 'gw', dims: [3, 2], data_type: 7, int64_data: [1, 2, 3, -4, 5, 9007199254740991] },
        rawFloat('gb', [3], [1, 2, 3]),
      ],
      // Old exporters list weights among the inputs too: the parser leaves them out.
      input: [floatInfo('x', ['batch', 1, 4, 4]), floatInfo('w', [2, 1, 3, 3])],
      output: [floatInfo('y', ['batch', 3])],
      value_info: [floatInfo('c', ['batch', 2, 4, 4])],
    },
    opset,
  );
}

describe('parseOnnxModel', () => {
  it('reads nodes, attributes, initializers in every storage and symbolic shapes', () => {
    const g = parseOnnxModel(convNet());
    expect(g.opset).toBe(13);
    expect(g.producer).toBe('convlens-test 1');
    expect(g.nodes.map((n) => n.name)).toEqual(['conv1', 'Reshape_1', 'Gemm_2', 'Constant_3']);
    expect(g.nodes[0].attributes).toEqual({ kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: 1 });
    expect(g.nodes[2].attributes).toEqual({ alpha: 0.5, transB: 1 });
    expect(g.nodes[1].inputs).toEqual(['c', 'shape']);
    expect(g.inputs).toEqual([{ name: 'x', type: 'float', shape: ['batch', 1, 4, 4] }]);
    expect(g.outputs[0].shape).toEqual(['batch', 3]);
    expect(g.valueInfo[0]).toEqual({ name: 'c', type: 'float', shape: ['batch', 2, 4, 4] });
    const w = g.initializers.get('w')!;
    expect(w.dims).toEqual([2, 1, 3, 3]);
    expect(w.data).toBeInstanceOf(Float32Array);
    expect(w.data[0]).toBe(-9);
    expect(w.data[17]).toBe(8);
    expect([...g.initializers.get('b')!.data]).toEqual([0.25, -0.5]);
    const shape = g.initializers.get('shape')!;
    expect(shape.type).toBe('int64');
    expect(shape.data).toBeInstanceOf(Float64Array);
    expect([...shape.data]).toEqual([1, -1]);
    expect([...g.initializers.get('gw')!.data]).toEqual([1, 2, 3, -4, 5, 9007199254740991]);
    const k = g.nodes[3].attributes.value as { type: string; data: Float32Array };
    expect(k.type).toBe('float16');
    expect(k.data[0]).toBe(1);
    expect(k.data[1]).toBe(-2);
    expect(k.data[2]).toBeCloseTo(0.33325, 5);
    expect(k.data[3]).toBe(2 ** -24);
    expect(g.nodes[3].attributes.note).toBe('é');
  });

  it('reads raw float16 and external data at an offset, and names a missing external file', () => {
    const side = new Uint8Array(64).fill(7);
    side.set(new Uint8Array(new Float32Array([1.5, -2.5, 3.5]).buffer), 16);
    const bytes = model({
      node: [{ op_type: 'Add', input: ['x', 'e'], output: ['y'] }],
      initializer: [
        {
          name: 'e',
          dims: [3],
          data_type: 1,
          data_location: 1,
          external_data: [
            { key: 'location', value: 'weights.bin' },
            { key: 'offset', value: '16' },
            { key: 'length', value: '12' },
          ],
        },
        {
          name: 'h',
          dims: [2],
          data_type: 10,
          raw_data: new Uint8Array(new Uint16Array([0x3800, 0x7c00]).buffer),
        },
      ],
      input: [floatInfo('x', [3])],
      output: [floatInfo('y', [3])],
    });
    const calls: unknown[] = [];
    const g = parseOnnxModel(bytes, {
      externalData: (loc, off, len) => {
        calls.push([loc, off, len]);
        return side.subarray(off, off + (len ?? side.length - off));
      },
    });
    expect(calls).toEqual([['weights.bin', 16, 12]]);
    expect([...g.initializers.get('e')!.data]).toEqual([1.5, -2.5, 3.5]);
    expect([...g.initializers.get('h')!.data]).toEqual([0.5, Number.POSITIVE_INFINITY]);
    expect(() => parseOnnxModel(bytes, { source: 'm.onnx' })).toThrow(
      /^m\.onnx: tensor 'e' keeps its data in 'weights\.bin'/,
    );
    expect(() =>
      parseOnnxModel(bytes, {
        source: 'm.onnx',
        externalData: () => {
          throw new Error('m.onnx: external data file weights.bin is missing');
        },
      }),
    ).toThrow(/weights\.bin is missing/);
  });

  it('refuses truncated files, other files and opsets outside 6–18 in one line naming the file', () => {
    const bytes = convNet();
    for (const cut of [bytes.length - 7, Math.floor(bytes.length / 2), 20]) {
      expect(() => parseOnnxModel(bytes.subarray(0, cut), { source: 'cut.onnx' })).toThrow(
        /^cut\.onnx: not an ONNX model \([^\n]+\)$/,
      );
    }
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    expect(() => parseOnnxModel(png, { source: 'x.png' })).toThrow(/^x\.png: not an ONNX model/);
    expect(() => parseOnnxModel(new TextEncoder().encode('hello world\n'), { source: 'a.txt' })).toThrow(
      /^a\.txt: not an ONNX model/,
    );
    expect(() => parseOnnxModel(new Uint8Array(0), { source: 'empty.onnx' })).toThrow(/not an ONNX model/);
    expect(() => parseOnnxModel(convNet(5), { source: 'old.onnx' })).toThrow(
      /^old\.onnx: ONNX opset 5 is not supported/,
    );
    expect(() => parseOnnxModel(convNet(19))).toThrow(
      /opset 19 is not supported \(convlens reads opsets 6–18/,
    );
    expect(parseOnnxModel(convNet(6)).opset).toBe(6);
    expect(parseOnnxModel(convNet(18)).opset).toBe(18);
  });

  it('parses a serialized TensorProto and refuses a wrong value count', () => {
    const t = parseOnnxTensor(encodeOnnx('TensorProto', { ...rawFloat('x', [1, 2], [3, 4]) }));
    expect(t).toEqual({ name: 'x', type: 'float', dims: [1, 2], data: new Float32Array([3, 4]) });
    const bad = encodeOnnx('TensorProto', { ...rawFloat('x', [1, 3], [3, 4]) });
    expect(() => parseOnnxTensor(bad, { source: 'in.pb' })).toThrow(
      /^in\.pb: tensor 'x' holds 2 values for dims \[1, 3\]/,
    );
  });
});

// ONNX's own backend test (Debian libonnx-testdata): a model and tensors the ONNX project serialized.
const conf = '/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding';
describe.skipIf(!existsSync(conf))('parse ONNX conformance data', () => {
  it('reads test_conv_with_strides_padding: model, input and expected output', () => {
    const g = parseOnnxModel(readFileSync(`${conf}/model.onnx`), { source: 'model.onnx' });
    expect(g.opset).toBe(11);
    expect(g.nodes).toEqual([
      {
        name: 'Conv_0',
        opType: 'Conv',
        domain: '',
        inputs: ['x', 'W'],
        outputs: ['y'],
        attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] },
      },
    ]);
    expect(g.inputs.map((i) => [i.name, i.shape])).toEqual([
      ['x', [1, 1, 7, 5]],
      ['W', [1, 1, 3, 3]],
    ]);
    const x = parseOnnxTensor(readFileSync(`${conf}/test_data_set_0/input_0.pb`));
    const w = parseOnnxTensor(readFileSync(`${conf}/test_data_set_0/input_1.pb`));
    const y = parseOnnxTensor(readFileSync(`${conf}/test_data_set_0/output_0.pb`));
    expect(x.dims).toEqual([1, 1, 7, 5]);
    expect([...x.data.slice(0, 3)]).toEqual([0, 1, 2]); // np.arange(35)
    expect(y.dims).toEqual([1, 1, 4, 3]);
    // y[0,0] = conv of x (7×5, padded by 1) with a 3×3 kernel of ones at stride 2: x00+x01+x10+x11.
    expect(w.data.every((v) => v === 1)).toBe(true);
    expect(y.data[0]).toBe(0 + 1 + 5 + 6);
  });
});
