/**
 * Every kernel convlens adds to or replaces in the wasm backend, compared with the cpu backend on
 * random shapes: max |wasm − cpu| / max |cpu| ≤ 1e-4.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng as rng } from '../src/data/rng.ts';
import { initBackend, tf } from '../src/engine/backend.ts';
import { ADDED_KERNELS, REPLACED_KERNELS } from '../src/engine/register.ts';

function randomArray(n: number, rand: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rand() * 2 - 1;
  return a;
}

interface Spec {
  shape: number[];
  values: Float32Array | Int32Array;
  dtype?: 'float32' | 'int32';
}

/** Runs one kernel on cpu and wasm with identical inputs; returns the relative error and output shape. */
async function compare(kernel: string, inputs: Record<string, Spec>, attrs: Record<string, unknown>) {
  const outs: { data: Float32Array; shape: number[] }[] = [];
  for (const backend of ['cpu', 'wasm'] as const) {
    await initBackend(backend);
    const before = tf.memory().numTensors;
    const ins: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(inputs)) ins[k] = tf.tensor(v.values, v.shape, v.dtype ?? 'float32');
    const out = tf.engine().runKernel(kernel, ins, attrs as any) as tf.Tensor;
    outs.push({ data: out.dataSync() as Float32Array, shape: out.shape });
    out.dispose();
    tf.dispose(Object.values(ins));
    expect(tf.memory().numTensors).toBe(before);
  }
  const [cpu, wasm] = outs;
  expect(wasm.shape).toEqual(cpu.shape);
  let maxErr = 0;
  let maxAbs = 1e-12;
  for (let i = 0; i < cpu.data.length; i++) {
    maxErr = Math.max(maxErr, Math.abs(cpu.data[i] - wasm.data[i]));
    maxAbs = Math.max(maxAbs, Math.abs(cpu.data[i]));
  }
  return maxErr / maxAbs;
}

/** Element count of a shape. */
function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function convOutShape(x: number[], f: number[], s: number[], pad: 'same' | 'valid', d = [1, 1]): number[] {
  const ekh = (f[0] - 1) * d[0] + 1;
  const ekw = (f[1] - 1) * d[1] + 1;
  const oh = pad === 'same' ? Math.ceil(x[1] / s[0]) : Math.ceil((x[1] - ekh + 1) / s[0]);
  const ow = pad === 'same' ? Math.ceil(x[2] / s[1]) : Math.ceil((x[2] - ekw + 1) / s[1]);
  return [x[0], oh, ow];
}

const convCases = [
  { x: [1, 9, 9, 3], f: [3, 3, 3, 4], s: [1, 1], pad: 'same' },
  { x: [4, 9, 9, 3], f: [3, 3, 3, 4], s: [1, 1], pad: 'valid' },
  { x: [3, 10, 11, 2], f: [3, 3, 2, 5], s: [2, 2], pad: 'same' },
  { x: [2, 11, 10, 2], f: [3, 3, 2, 5], s: [2, 2], pad: 'valid' },
  { x: [1, 8, 8, 3], f: [2, 2, 3, 2], s: [2, 2], pad: 'valid' },
  { x: [2, 7, 7, 4], f: [5, 5, 4, 3], s: [1, 1], pad: 'same' },
  { x: [2, 13, 12, 3], f: [3, 2, 3, 4], s: [2, 3], pad: 'same' },
  { x: [5, 28, 28, 1], f: [3, 3, 1, 8], s: [1, 1], pad: 'valid' },
] as const;

describe('wasm kernels match the cpu backend', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('registers every added and replaced kernel on wasm', () => {
    for (const k of [...ADDED_KERNELS, ...REPLACED_KERNELS]) {
      expect(tf.getKernel(k.kernelName, 'wasm')?.kernelFunc).toBe(k.kernelFunc);
    }
  });

  for (const [n, c] of convCases.entries()) {
    const label = `x=${c.x} f=${c.f} strides=${c.s} ${c.pad}`;
    it(`Conv2DBackpropFilter ${label}`, async () => {
      const r = rng(100 + n);
      const dyShape = [...convOutShape([...c.x], [...c.f], [...c.s], c.pad), c.f[3]];
      const err = await compare(
        'Conv2DBackpropFilter',
        {
          x: {
            shape: [...c.x],
            values: randomArray(size(c.x), r),
          },
          dy: {
            shape: dyShape,
            values: randomArray(size(dyShape), r),
          },
        },
        { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f },
      );
      expect(err).toBeLessThan(1e-4);
    });
    it(`Conv2DBackpropInput ${label}`, async () => {
      const r = rng(200 + n);
      const dyShape = [...convOutShape([...c.x], [...c.f], [...c.s], c.pad), c.f[3]];
      const err = await compare(
        'Conv2DBackpropInput',
        {
          dy: {
            shape: dyShape,
            values: randomArray(size(dyShape), r),
          },
          filter: {
            shape: [...c.f],
            values: randomArray(size(c.f), r),
          },
        },
        { strides: c.s, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x },
      );
      expect(err).toBeLessThan(1e-4);
    });
  }

  const depthwiseCases = [
    { x: [2, 9, 9, 3], f: [3, 3, 3, 1], s: [1, 1], d: [1, 1], pad: 'same' },
    { x: [1, 10, 11, 4], f: [3, 3, 4, 2], s: [2, 2], d: [1, 1], pad: 'same' },
  ] as const;
  for (const [n, c] of depthwiseCases.entries()) {
    const label = `x=${c.x} f=${c.f} strides=${c.s} dil=${c.d} ${c.pad}`;
    const outC = c.f[2] * c.f[3];
    it(`DepthwiseConv2dNativeBackpropFilter ${label}`, async () => {
      const r = rng(300 + n);
      const dyShape = [...convOutShape([...c.x], [...c.f], [...c.s], c.pad, [...c.d]), outC];
      const err = await compare(
        'DepthwiseConv2dNativeBackpropFilter',
        {
          x: {
            shape: [...c.x],
            values: randomArray(size(c.x), r),
          },
          dy: {
            shape: dyShape,
            values: randomArray(size(dyShape), r),
          },
        },
        { strides: c.s, dilations: c.d, pad: c.pad, filterShape: c.f },
      );
      expect(err).toBeLessThan(1e-4);
    });
    it(`DepthwiseConv2dNativeBackpropInput ${label}`, async () => {
      const r = rng(400 + n);
      const dyShape = [...convOutShape([...c.x], [...c.f], [...c.s], c.pad, [...c.d]), outC];
      const err = await compare(
        'DepthwiseConv2dNativeBackpropInput',
        {
          dy: {
            shape: dyShape,
            values: randomArray(size(dyShape), r),
          },
          filter: {
            shape: [...c.f],
            values: randomArray(size(c.f), r),
          },
        },
        { strides: c.s, dilations: c.d, pad: c.pad, inputShape: c.x },
      );
      expect(err).toBeLessThan(1e-4);
    });
  }

  // tfjs's cpu backend ignores dilation in depthwise gradients, so dilated ones are checked by the
  // adjoint identities <dy, conv(x, w)> = <dx, x> = <dw, w>, exact for a linear operator.
  it('depthwise gradients with dilation 2 satisfy the adjoint identities', async () => {
    await initBackend('wasm');
    const r = rng(450);
    const xs = [3, 12, 12, 2];
    const fs = [3, 3, 2, 2];
    const attrs = { strides: [1, 1], dilations: [2, 2], pad: 'valid' as const };
    const x = tf.tensor4d(randomArray(3 * 144 * 2, r), xs as any);
    const w = tf.tensor4d(randomArray(36, r), fs as any);
    const y = tf.depthwiseConv2d(x, w, 1, 'valid', 'NHWC', 2);
    const dy = tf.tensor(randomArray(y.size, r), y.shape);
    const dx = tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, {
      ...attrs,
      inputShape: xs,
    } as any) as tf.Tensor;
    const dw = tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, {
      ...attrs,
      filterShape: fs,
    } as any) as tf.Tensor;
    const lhs = tf.sum(tf.mul(dy, y)).dataSync()[0];
    const viaX = tf.sum(tf.mul(dx, x)).dataSync()[0];
    const viaW = tf.sum(tf.mul(dw, w)).dataSync()[0];
    expect(Math.abs(viaX - lhs) / Math.abs(lhs)).toBeLessThan(1e-4);
    expect(Math.abs(viaW - lhs) / Math.abs(lhs)).toBeLessThan(1e-4);
    tf.dispose([x, w, y, dy, dx, dw]);
  });

  const mmCases = [
    { a: [7, 5], b: [5, 3], tA: false, tB: false },
    { a: [5, 7], b: [5, 3], tA: true, tB: false },
    { a: [7, 5], b: [3, 5], tA: false, tB: true },
    { a: [5, 7], b: [3, 5], tA: true, tB: true },
    { a: [4, 6, 5], b: [4, 3, 5], tA: false, tB: true },
    { a: [4, 5, 6], b: [1, 5, 3], tA: true, tB: false },
    { a: [64, 300], b: [64, 40], tA: true, tB: false },
    // Small A, large B: computed as (B·Aᵀ)ᵀ.
    { a: [3, 16], b: [200, 16], tA: false, tB: true },
    { a: [2, 3, 16], b: [1, 90, 16], tA: false, tB: true },
    { a: [1, 3, 16], b: [2, 90, 16], tA: false, tB: true },
  ];
  for (const [n, c] of mmCases.entries()) {
    it(`BatchMatMul a=${c.a} b=${c.b} transposeA=${c.tA} transposeB=${c.tB}`, async () => {
      const r = rng(500 + n);
      const err = await compare(
        'BatchMatMul',
        {
          a: {
            shape: c.a,
            values: randomArray(
              c.a.reduce((x, y) => x * y),
              r,
            ),
          },
          b: {
            shape: c.b,
            values: randomArray(
              c.b.reduce((x, y) => x * y),
              r,
            ),
          },
        },
        { transposeA: c.tA, transposeB: c.tB },
      );
      expect(err).toBeLessThan(1e-4);
    });
  }

  it('_FusedMatMul with transposes, bias and relu', async () => {
    const r = rng(600);
    const err = await compare(
      '_FusedMatMul',
      {
        a: { shape: [1, 6, 9], values: randomArray(54, r) },
        b: { shape: [1, 4, 6], values: randomArray(24, r) },
        bias: { shape: [4], values: randomArray(4, r) },
      },
      { transposeA: true, transposeB: true, activation: 'relu', leakyreluAlpha: 0 },
    );
    expect(err).toBeLessThan(1e-4);
  });

  const poolCases = [
    { x: [2, 8, 8, 3], f: [2, 2], s: [2, 2], pad: 'valid' },
    { x: [3, 9, 7, 4], f: [3, 3], s: [2, 2], pad: 'same' },
    { x: [1, 6, 6, 2], f: [3, 3], s: [1, 1], pad: 'same' },
    { x: [2, 7, 9, 5], f: [2, 3], s: [2, 1], pad: 'valid' },
  ] as const;
  for (const [n, c] of poolCases.entries()) {
    it(`MaxPoolGrad x=${c.x} window=${c.f} strides=${c.s} ${c.pad}`, async () => {
      const r = rng(800 + n);
      const outShape = [...convOutShape([...c.x], [c.f[0], c.f[1], 0, 0], [...c.s], c.pad), c.x[3]];
      const err = await compare(
        'MaxPoolGrad',
        {
          dy: { shape: outShape, values: randomArray(size(outShape), r) },
          input: { shape: [...c.x], values: randomArray(size(c.x), r) },
          output: { shape: outShape, values: new Float32Array(size(outShape)) },
        },
        { filterSize: c.f, strides: c.s, pad: c.pad },
      );
      expect(err).toBeLessThan(1e-4);
    });
  }

  const sumCases = [
    { shape: [3, 4, 5, 6], axis: [0, 1, 2], keepDims: false },
    { shape: [3, 4, 5, 6], axis: [2, 0, 1], keepDims: true },
    { shape: [7, 9], axis: 0, keepDims: false },
    { shape: [3, 4, 5], axis: [1], keepDims: false },
    { shape: [3, 4, 5], axis: [0, 1, 2], keepDims: false },
  ];
  for (const [n, [kernel, c]] of (['Sum', 'Mean'] as const)
    .flatMap((k) => sumCases.map((c) => [k, c] as const))
    .entries()) {
    it(`${kernel} shape=${c.shape} axis=${c.axis} keepDims=${c.keepDims}`, async () => {
      const r = rng(900 + n);
      const err = await compare(
        kernel,
        {
          x: {
            shape: c.shape,
            values: randomArray(
              c.shape.reduce((a, b) => a * b),
              r,
            ),
          },
        },
        { axis: c.axis, keepDims: c.keepDims },
      );
      expect(err).toBeLessThan(1e-4);
    });
  }

  it('UnsortedSegmentSum (gather gradient), ids out of range dropped', async () => {
    const r = rng(700);
    const err = await compare(
      'UnsortedSegmentSum',
      {
        x: { shape: [6, 3, 2], values: randomArray(36, r) },
        segmentIds: { shape: [6], values: new Int32Array([0, 2, 2, 4, 1, 0]), dtype: 'int32' },
      },
      { numSegments: 5 },
    );
    expect(err).toBeLessThan(1e-4);
  });

  it('Identity shares the buffer: clones read the same values, outlive the original, and free it last', async () => {
    await initBackend('wasm');
    const before = tf.memory();
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const y = tf.clone(x);
    const z = tf.clone(y);
    expect(y.dataId).toBe(x.dataId);
    x.dispose();
    expect(await z.data()).toEqual(new Float32Array([1, 2, 3, 4, 5, 6]));
    y.dispose();
    // Still valid after both others are gone, and a new tensor does not take its memory.
    const w = tf.fill([2, 3], 9) as tf.Tensor2D;
    expect(await z.data()).toEqual(new Float32Array([1, 2, 3, 4, 5, 6]));
    // A variable assigned from a clone keeps its value when the source is disposed.
    const v = tf.variable(z);
    z.dispose();
    expect(await v.data()).toEqual(new Float32Array([1, 2, 3, 4, 5, 6]));
    v.assign(w);
    expect(Array.from(await v.data())).toEqual([9, 9, 9, 9, 9, 9]);
    // Cast to the same dtype shares too; to another dtype it converts.
    const c = tf.cast(w, 'float32');
    expect(c.dataId).toBe(w.dataId);
    const f = tf.tensor1d([1.7, -2.2]);
    const i = tf.cast(f, 'int32');
    expect(Array.from(await i.data())).toEqual([1, -2]);
    tf.dispose([v, w, c, f, i]);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
  });

  it('Tile matches cpu: broadcast statistics, middle and inner axes, rank 1–5, int32', async () => {
    const r = rng(800);
    const cases: [number[], number[]][] = [
      [
        [1, 1, 1, 5],
        [3, 4, 6, 1],
      ], // batch-norm statistics over activations
      [
        [2, 1, 1, 3],
        [1, 4, 5, 1],
      ], // per-example rows over a middle axis
      [
        [2, 3],
        [3, 2],
      ], // every axis, sizes > 1
      [[4], [5]],
      [
        [2, 3, 1, 2, 2],
        [1, 2, 3, 1, 2],
      ],
      [
        [3, 2],
        [1, 1],
      ], // no-op
    ];
    for (const [shape, reps] of cases) {
      const err = await compare('Tile', { x: { shape, values: randomArray(size(shape), r) } }, { reps });
      expect(err, `${shape} × ${reps}`).toBe(0);
    }
    const ints = Int32Array.from({ length: 6 }, (_, i) => i - 2);
    const err = await compare(
      'Tile',
      { x: { shape: [2, 3], values: ints, dtype: 'int32' } },
      { reps: [2, 2] },
    );
    expect(err).toBe(0);
  });

  it('FusedBatchNorm with [C] or scalar statistics, with and without offset/scale, matches cpu', async () => {
    const r = rng(810);
    const x = { shape: [3, 5, 4, 6], values: randomArray(360, r) };
    const vec = (n: number, lo = 0) => ({
      shape: [n],
      values: Float32Array.from(randomArray(n, r), (v) => lo + Math.abs(v)),
    });
    const full = { x, mean: vec(6), variance: vec(6, 0.5), offset: vec(6), scale: vec(6, 0.5) };
    expect(await compare('FusedBatchNorm', full, { varianceEpsilon: 1e-3 })).toBeLessThan(1e-5);
    expect(
      await compare('FusedBatchNorm', { x, mean: vec(6), variance: vec(6, 0.5) }, { varianceEpsilon: 1e-3 }),
    ).toBeLessThan(1e-5);
    expect(
      await compare(
        'FusedBatchNorm',
        { x, mean: vec(1), variance: vec(1, 0.5), scale: vec(6) },
        { varianceEpsilon: 0.1 },
      ),
    ).toBeLessThan(1e-5);
  });

  it('Minimum/Maximum against a scalar (either side) and full tensors match cpu', async () => {
    const r = rng(820);
    const a = { shape: [2, 7, 3], values: randomArray(42, r) };
    const six = { shape: [], values: new Float32Array([0.2]) };
    const b = { shape: [2, 7, 3], values: randomArray(42, r) };
    for (const k of ['Minimum', 'Maximum']) {
      expect(await compare(k, { a, b: six }, {}), k).toBe(0);
      expect(await compare(k, { a: six, b: a }, {}), k).toBe(0);
      expect(await compare(k, { a, b }, {}), k).toBe(0);
    }
  });
});
