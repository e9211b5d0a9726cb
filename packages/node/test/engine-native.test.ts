// Native oneDNN kernels (Node): each one equals the tfjs cpu backend on assorted shapes, pw11's
// gradients equal cpu's, nothing leaks, and threaded wasm (a SharedArrayBuffer heap) works too.
// Skipped, with the reason in the suite's name, only where the addon cannot be built.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { buildModel } from '@convlens/core/models/build';
import { logitsModel } from '@convlens/core/models/logits';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  loadNative,
  nativeAddon,
  nativeCalls,
  nativeNotice,
  registerNativeKernels,
  resolveNodeBackend,
  unregisterNativeKernels,
} from '../src/engine/native.ts';
import { NATIVE_KERNELS } from '../src/engine/native-kernels.ts';

const status = loadNative();
const title = status.ok ? 'native oneDNN kernels' : `native oneDNN kernels — skipped: ${status.reason}`;

let seed = 99;
function rand(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32 - 0.5;
  });
}
const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

function relErr(got: Float32Array, want: Float32Array): number {
  let err = 0;
  let scale = 1e-12;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return err / scale;
}

type Inputs = Record<string, { data: Float32Array; shape: number[] }>;

/** Runs one kernel on a backend from plain arrays; returns its output's values and shape. */
async function runOn(backend: 'cpu' | 'wasm', kernel: string, inputs: Inputs, attrs: object) {
  await initBackend(backend);
  const ts: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) ts[k] = tf.tensor(v.data, v.shape);
  const out = tf.engine().runKernel(kernel, ts as any, attrs as any) as tf.Tensor;
  const result = { data: (await out.data()) as Float32Array, shape: out.shape };
  tf.dispose([out, ...Object.values(ts)]);
  return result;
}

/** Kernel output on wasm (native) vs cpu; checks the native path ran and nothing leaked. */
async function expectMatchesCpu(kernel: string, inputs: Inputs, attrs: object, label: string) {
  const want = await runOn('cpu', kernel, inputs, attrs);
  await initBackend('wasm');
  const before = nativeCalls()[kernel] ?? 0;
  const tensors = tf.memory().numTensors;
  const buffers = tf.engine().backend.numDataIds();
  const got = await runOn('wasm', kernel, inputs, attrs);
  expect(tf.memory().numTensors, label).toBe(tensors);
  expect(tf.engine().backend.numDataIds(), label).toBe(buffers);
  expect(nativeCalls()[kernel] ?? 0, `${label}: ran natively`).toBe(before + 1);
  expect(got.shape, label).toEqual(want.shape);
  expect(relErr(got.data, want.data), label).toBeLessThan(1e-4);
}

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
interface ConvCase {
  x: [number, number, number, number];
  f: [number, number, number, number];
  stride: number;
  pad: Pad;
}

const CONV_CASES: ConvCase[] = [
  { x: [1, 28, 28, 1], f: [3, 3, 1, 32], stride: 1, pad: 'valid' }, // pw11 conv1
  { x: [2, 26, 26, 32], f: [3, 3, 32, 64], stride: 1, pad: 'valid' }, // pw11 conv2
  { x: [3, 7, 9, 5], f: [3, 3, 5, 7], stride: 2, pad: 'same' },
  { x: [2, 10, 11, 3], f: [5, 4, 3, 6], stride: 2, pad: 'valid' },
  { x: [5, 6, 6, 4], f: [1, 1, 4, 3], stride: 1, pad: 'same' },
  { x: [1, 13, 13, 8], f: [3, 3, 8, 16], stride: 2, pad: 'same' },
  { x: [33, 5, 5, 2], f: [2, 2, 2, 3], stride: 1, pad: 'valid' },
  {
    x: [2, 8, 7, 3],
    f: [3, 3, 3, 4],
    stride: 1,
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
];

const DEPTHWISE_CASES: ConvCase[] = [
  { x: [2, 14, 14, 8], f: [3, 3, 8, 1], stride: 1, pad: 'same' }, // MobileNet's depthwise layers
  { x: [1, 15, 15, 16], f: [3, 3, 16, 1], stride: 2, pad: 'same' },
  { x: [1, 112, 112, 8], f: [3, 3, 8, 1], stride: 2, pad: 'same' }, // MobileNet 0.25's conv_dw_2
  { x: [3, 9, 8, 3], f: [3, 3, 3, 2], stride: 1, pad: 'valid' },
  { x: [2, 7, 7, 4], f: [5, 5, 4, 3], stride: 2, pad: 'valid' },
];

const caseName = (c: ConvCase) =>
  `x ${c.x.join('×')} f ${c.f.join('×')} s${c.stride} ${JSON.stringify(c.pad)}`;

function outShape(c: ConvCase, depthwise = false): number[] {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.f, c.stride, 1, c.pad as any, undefined, depthwise);
  return info.outShape;
}

describe.skipIf(!status.ok)(title, () => {
  beforeAll(async () => {
    expect(registerNativeKernels().ok).toBe(true);
    await initBackend('wasm');
  });

  it('keeps freed buffers up to 32 MB in the process on glibc (read-backs reuse pages, no page faults)', () => {
    const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)
      ?.header?.glibcVersionRuntime;
    expect(nativeAddon().mallocTuned()).toBe(!!glibc);
  });

  it('Conv2D and FusedConv2D (bias, relu) match cpu', async () => {
    for (const c of CONV_CASES) {
      const x = { data: rand(size(c.x)), shape: c.x };
      const filter = { data: rand(size(c.f)), shape: c.f };
      const conv = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', dilations: 1 };
      await expectMatchesCpu('Conv2D', { x, filter }, conv, caseName(c));
      const bias = { data: rand(c.f[3]), shape: [c.f[3]] };
      for (const activation of ['relu', 'relu6', 'linear']) {
        // relu6 on inputs scaled up so outputs pass 6 and the clip is exercised.
        const xs = activation === 'relu6' ? { ...x, data: x.data.map((v) => v * 60) } : x;
        await expectMatchesCpu(
          'FusedConv2D',
          { x: xs, filter, bias },
          { ...conv, activation },
          `${caseName(c)} fused ${activation}`,
        );
      }
      await expectMatchesCpu('FusedConv2D', { x, filter }, { ...conv, activation: 'relu' }, caseName(c));
    }
  });

  it('DepthwiseConv2dNative and FusedDepthwiseConv2D (multipliers 1–3, bias, relu6) match cpu', async () => {
    for (const c of DEPTHWISE_CASES) {
      const x = { data: rand(size(c.x)), shape: c.x };
      const filter = { data: rand(size(c.f)), shape: c.f };
      const conv = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', dilations: 1 };
      await expectMatchesCpu('DepthwiseConv2dNative', { x, filter }, conv, `${caseName(c)} depthwise`);
      const co = c.f[2] * c.f[3];
      const bias = { data: rand(co), shape: [co] };
      for (const activation of ['relu6', 'linear']) {
        const xs = activation === 'relu6' ? { ...x, data: x.data.map((v) => v * 60) } : x;
        await expectMatchesCpu(
          'FusedDepthwiseConv2D',
          { x: xs, filter, bias },
          { ...conv, activation },
          `${caseName(c)} fused depthwise ${activation}`,
        );
      }
    }
  });

  it('DepthwiseConv2dNativeBackpropInput and …BackpropFilter (multipliers 1–3) match cpu', async () => {
    for (const c of DEPTHWISE_CASES) {
      const x = { data: rand(size(c.x)), shape: c.x };
      const filter = { data: rand(size(c.f)), shape: c.f };
      const dyShape = outShape(c, true);
      const dy = { data: rand(size(dyShape)), shape: dyShape };
      const conv = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', dilations: 1 };
      await expectMatchesCpu(
        'DepthwiseConv2dNativeBackpropInput',
        { dy, filter },
        { ...conv, inputShape: c.x },
        `${caseName(c)} depthwise dx`,
      );
      await expectMatchesCpu(
        'DepthwiseConv2dNativeBackpropFilter',
        { x, dy },
        { ...conv, filterShape: c.f },
        `${caseName(c)} depthwise dw`,
      );
    }
  });

  it('FusedBatchNorm ([C] statistics, with and without offset and scale) matches cpu', async () => {
    for (const shape of [
      [2, 14, 14, 8],
      [1, 112, 112, 8],
      [3, 5],
    ]) {
      const c = shape[shape.length - 1];
      const x = { data: rand(size(shape)), shape };
      const stat = (lo: number) => ({ data: rand(c).map((v) => v + lo), shape: [c] });
      const base = { x, mean: stat(0), variance: stat(1) };
      const attrs = { varianceEpsilon: 1e-3 };
      await expectMatchesCpu('FusedBatchNorm', base, attrs, `batch norm ${shape}`);
      await expectMatchesCpu(
        'FusedBatchNorm',
        { ...base, offset: stat(0), scale: stat(1) },
        attrs,
        `batch norm ${shape} offset scale`,
      );
    }
  });

  it('Greater, GreaterEqual, Less, LessEqual against a scalar (either side) match cpu', async () => {
    // Values on a grid of halves, so some equal the scalar exactly.
    const x = { data: rand(2 * 9 * 9 * 4).map((v) => Math.round(v * 16) / 2), shape: [2, 9, 9, 4] };
    for (const kernel of ['Greater', 'GreaterEqual', 'Less', 'LessEqual']) {
      for (const s of [
        { data: Float32Array.of(1.5), shape: [] },
        { data: Float32Array.of(-2), shape: [1, 1] },
      ]) {
        await expectMatchesCpu(kernel, { a: x, b: s }, {}, `${kernel} x, ${s.data[0]}`);
        await expectMatchesCpu(kernel, { a: s, b: x }, {}, `${kernel} ${s.data[0]}, x`);
      }
    }
  });

  it('Conv2DBackpropFilter matches cpu', async () => {
    for (const c of CONV_CASES) {
      const x = { data: rand(size(c.x)), shape: c.x };
      const dyShape = outShape(c);
      const dy = { data: rand(size(dyShape)), shape: dyShape };
      const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f };
      await expectMatchesCpu('Conv2DBackpropFilter', { x, dy }, attrs, caseName(c));
    }
  });

  it('Conv2DBackpropInput matches cpu', async () => {
    for (const c of CONV_CASES) {
      const filter = { data: rand(size(c.f)), shape: c.f };
      const dyShape = outShape(c);
      const dy = { data: rand(size(dyShape)), shape: dyShape };
      const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x };
      await expectMatchesCpu('Conv2DBackpropInput', { dy, filter }, attrs, caseName(c));
    }
  });

  it('BatchMatMul and _FusedMatMul (transposes, batches, broadcast, bias, relu) match cpu', async () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[64, 300], [300, 128], false, false],
      [[19, 37], [19, 23], true, false],
      [[37, 19], [23, 19], false, true],
      [[19, 37], [23, 19], true, true],
      [[128, 9], [128, 10], true, false], // a dense layer's weight gradient: Aᵀ·dy
      [[3, 5, 7], [3, 7, 4], false, false],
      [[1, 5, 7], [4, 4, 7], false, true],
      [[4, 7, 5], [1, 7, 4], true, false],
    ];
    for (const [as, bs, transposeA, transposeB] of cases) {
      const label = `${as.join('×')}${transposeA ? 'ᵀ' : ''} · ${bs.join('×')}${transposeB ? 'ᵀ' : ''}`;
      const a = { data: rand(size(as)), shape: as };
      const b = { data: rand(size(bs)), shape: bs };
      await expectMatchesCpu('BatchMatMul', { a, b }, { transposeA, transposeB }, label);
      const n = transposeB ? bs[bs.length - 2] : bs[bs.length - 1];
      const bias = { data: rand(n), shape: [n] };
      for (const activation of ['relu', 'relu6', 'linear']) {
        const as6 = activation === 'relu6' ? { ...a, data: a.data.map((v) => v * 60) } : a;
        await expectMatchesCpu(
          '_FusedMatMul',
          { a: as6, b, bias },
          { transposeA, transposeB, activation },
          `${label} fused ${activation}`,
        );
      }
    }
  });

  it('Sum over leading or trailing axes matches cpu', async () => {
    const cases: [number[], number[], boolean][] = [
      [[7, 5, 6, 9], [0, 1, 2], false], // a conv bias gradient
      [[33, 10], [0], false],
      [[3, 4, 5], [1, 2], true],
      [[128, 10], [-1], false],
      [[2, 3, 4, 5], [0, 1], true],
    ];
    for (const [shape, axis, keepDims] of cases) {
      const x = { data: rand(size(shape)), shape };
      await expectMatchesCpu('Sum', { x }, { axis, keepDims }, `${shape.join('×')} axis ${axis}`);
    }
  });

  it('MaxPool and MaxPoolGrad match cpu (valid and same, strides 1 and 2)', async () => {
    const cases: [number[], number, number, 'valid' | 'same'][] = [
      [[4, 24, 24, 16], 2, 2, 'valid'], // pw11's pool
      [[3, 7, 9, 5], 3, 2, 'same'],
      [[2, 6, 5, 3], 2, 1, 'valid'],
      [[1, 11, 11, 4], 3, 2, 'valid'],
    ];
    for (const [shape, k, s, pad] of cases) {
      const label = `${shape.join('×')} k${k} s${s} ${pad}`;
      const x = rand(size(shape));
      const outShape = tf.backend_util.computePool2DInfo(shape as any, k, s, 1, pad).outShape;
      const weights = rand(size(outShape));
      const gradOn = async (backend: 'cpu' | 'wasm') => {
        await initBackend(backend);
        const xt = tf.tensor4d(x, shape as [number, number, number, number]);
        const y = tf.maxPool(xt, k, s, pad);
        const r = tf.tensor(weights, y.shape);
        const tensors = tf.memory().numTensors;
        const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(v as tf.Tensor4D, k, s, pad), r)))(xt);
        const out = { grad: (await g.data()) as Float32Array, y: (await y.data()) as Float32Array };
        g.dispose();
        expect(tf.memory().numTensors, label).toBe(tensors);
        tf.dispose([xt, y, r]);
        return out;
      };
      const want = await gradOn('cpu');
      const before = nativeCalls();
      const got = await gradOn('wasm');
      // Forward twice (y, and inside the gradient), backward once.
      expect(nativeCalls().MaxPool, label).toBe((before.MaxPool ?? 0) + 2);
      expect(nativeCalls().MaxPoolGrad, label).toBe((before.MaxPoolGrad ?? 0) + 1);
      expect(got.y, label).toEqual(want.y);
      expect(relErr(got.grad, want.grad), label).toBeLessThan(1e-4);
    }
  });

  it('runs on the thread count it is given', async () => {
    const all = nativeAddon().threads();
    registerNativeKernels({ threads: 1 });
    expect(nativeAddon().threads()).toBe(1);
    const c = CONV_CASES[1];
    const x = { data: rand(size(c.x)), shape: c.x };
    const filter = { data: rand(size(c.f)), shape: c.f };
    const conv = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', dilations: 1 };
    await expectMatchesCpu('Conv2D', { x, filter }, conv, `${caseName(c)} on 1 thread`);
    registerNativeKernels({ threads: all });
    expect(nativeAddon().threads()).toBe(all);
  });

  it('leaves what it does not cover to wasm (dilation 2)', async () => {
    await initBackend('wasm');
    const before = nativeCalls().Conv2D ?? 0;
    const x = tf.tensor4d(rand(2 * 9 * 9 * 3), [2, 9, 9, 3]);
    const f = tf.tensor4d(rand(3 * 3 * 3 * 4), [3, 3, 3, 4]);
    const y = tf.conv2d(x, f, 1, 'valid', 'NHWC', 2);
    expect(y.shape).toEqual([2, 5, 5, 4]);
    expect(nativeCalls().Conv2D ?? 0).toBe(before);
    tf.dispose([x, f, y]);
  });

  it('pw11 gradients (every weight and the input) match cpu, leaving no tensors behind', async () => {
    const N = 4;
    const x = rand(N * 14 * 14).map((v) => v + 0.5);
    const labels = Array.from({ length: N }, (_, i) => (i * 7) % 10);
    const gradients = async (backend: 'cpu' | 'wasm') => {
      await initBackend(backend);
      const model = buildModel('pw11', { inputShape: [14, 14, 1], numClasses: 10, seed: 3 });
      const net = logitsModel(model);
      const tensors = tf.memory().numTensors;
      const out = tf.tidy(() => {
        const xt = tf.tensor4d(x, [N, 14, 14, 1]);
        const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
        const loss = (inp: tf.Tensor) =>
          tf.losses.softmaxCrossEntropy(
            onehot,
            net.apply(inp, { training: false }) as tf.Tensor,
          ) as tf.Scalar;
        const { grads } = tf.variableGrads(() => loss(xt));
        const dx = tf.grad(loss)(xt);
        return [
          ...net.trainableWeights.map(
            (w) => grads[(w.read() as tf.Variable).name].dataSync() as Float32Array,
          ),
          dx.dataSync() as Float32Array,
        ].map((a) => Float32Array.from(a));
      });
      expect(tf.memory().numTensors).toBe(tensors);
      model.dispose();
      return out;
    };
    const cpu = await gradients('cpu');
    const before = nativeCalls();
    const native = await gradients('wasm');
    const after = nativeCalls();
    // Under a gradient tfjs unfuses conv/matmul + bias + relu: the plain kernels run.
    for (const k of [
      'Conv2D',
      'Conv2DBackpropFilter',
      'Conv2DBackpropInput',
      'BatchMatMul',
      'MaxPoolGrad',
      'Sum',
    ])
      expect(after[k] ?? 0, `${k} ran natively`).toBeGreaterThan(before[k] ?? 0);
    expect(native.length).toBe(9); // 4 kernels, 4 biases, the input
    for (let i = 0; i < cpu.length; i++)
      expect(relErr(native[i], cpu[i]), `gradient ${i}`).toBeLessThan(1e-4);
  });

  it('falls back to wasm, once noticed and without leaking, when the addon throws', async () => {
    await initBackend('wasm');
    const x = tf.tensor4d(rand(2 * 9 * 9 * 3), [2, 9, 9, 3]);
    const f = tf.tensor4d(rand(3 * 3 * 3 * 4), [3, 3, 3, 4]);
    const want = tf.conv2d(x, f, 1, 'same').dataSync();
    const real = nativeAddon();
    const broken = {
      ...real,
      conv2d: () => {
        throw new Error('oneDNN: could not create a primitive');
      },
    };
    unregisterNativeKernels();
    NATIVE_KERNELS.register(broken);
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((l) => lines.push(String(l)) > 0);
    try {
      const buffers = tf.engine().backend.numDataIds();
      for (let i = 0; i < 2; i++) {
        const y = tf.conv2d(x, f, 1, 'same');
        expect(relErr(y.dataSync() as Float32Array, want as Float32Array)).toBeLessThan(1e-5);
        y.dispose();
      }
      expect(tf.engine().backend.numDataIds()).toBe(buffers);
      expect(lines).toEqual([
        'convlens: native Conv2D failed (oneDNN: could not create a primitive): using wasm for it\n',
      ]);
    } finally {
      spy.mockRestore();
      NATIVE_KERNELS.unregister();
      registerNativeKernels();
      tf.dispose([x, f]);
    }
  });

  it('runs on threaded wasm, whose heap is a SharedArrayBuffer', () => {
    // A fresh process: the wasm backend starts threaded or not once per process.
    const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
    const script = `
      const { initBackend, tf } = await import(${url('../../core/src/engine/backend.ts')});
      const { enableWasmThreads } = await import(${url('../src/engine/wasm-threads.ts')});
      const { registerNativeKernels, nativeCalls } = await import(${url('../src/engine/native.ts')});
      registerNativeKernels();
      enableWasmThreads(2);
      await initBackend('wasm');
      const x = tf.randomUniform([4, 12, 12, 3], -1, 1, 'float32', 1);
      const f = tf.randomUniform([3, 3, 3, 8], -1, 1, 'float32', 2);
      const shared = tf.backend().wasm.HEAPF32.buffer instanceof SharedArrayBuffer;
      const got = tf.conv2d(x, f, 2, 'same').dataSync();
      await initBackend('cpu');
      const want = tf.conv2d(x, f, 2, 'same').dataSync();
      let err = 0;
      for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
      console.log(JSON.stringify({ shared, native: nativeCalls().Conv2D === 1, err }));`;
    // A file, not --eval: the pool's workers inherit node's flags, and --input-type breaks them.
    const dir = mkdtempSync(join(tmpdir(), 'convlens-native-'));
    const file = join(dir, 'check.mjs');
    writeFileSync(file, script);
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8', timeout: 60_000 });
    rmSync(dir, { recursive: true, force: true });
    expect(r.stderr.slice(0, 500)).toBe('');
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ shared: true, native: true });
    expect(result.err).toBeLessThan(1e-4);
  });
});

describe('native backend selection', () => {
  it('resolves native to wasm, with a one-line notice when the addon is unavailable', () => {
    const lines: string[] = [];
    const warn = (l: string) => lines.push(l);
    expect(resolveNodeBackend('native', { warn })).toBe('wasm');
    expect(resolveNodeBackend('cpu', { warn })).toBe('cpu');
    expect(lines).toEqual(status.ok ? [] : [nativeNotice(status)]);
    expect(nativeNotice({ ok: false, reason: 'g++ not found' })).toBe(
      'convlens: native oneDNN kernels unavailable (g++ not found): using wasm',
    );
  });
});
