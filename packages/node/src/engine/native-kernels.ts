/**
 * The native kernels: each allocates its output on the wasm backend, then hands Float32Array views
 * of the heap (inputs and output, taken after the allocation since it may grow the heap) to the
 * oneDNN addon, which reads and writes them in place. Cases the addon does not cover (other dtypes,
 * dilation, NCHW, activations other than relu, broadcast biases, empty tensors) go to the kernel
 * registered before it: convlens's wasm kernel or the built-in.
 */
import { ACTIVATION_GRAD } from '@convlens/core/engine/kernels/activation-grad';
import { registerWasmKernels } from '@convlens/core/engine/register';
import {
  _FusedMatMul,
  BatchMatMul,
  backend_util,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  DepthwiseConv2dNative,
  DepthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput,
  FusedBatchNorm,
  FusedConv2D,
  FusedDepthwiseConv2D,
  Greater,
  GreaterEqual,
  getKernel,
  type KernelConfig,
  type KernelFunc,
  Less,
  LessEqual,
  MaxPool,
  MaxPoolGrad,
  registerKernel,
  Sum,
  type TensorInfo,
  unregisterKernel,
  util,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
// The wasm backend's kernels must be registered before they can be replaced.
import '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from './native.ts';

type Args = { inputs: any; backend: unknown; attrs: any };
type NativeFn = (addon: NativeAddon, args: Args) => TensorInfo | null;

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);
const isF32 = (...xs: (TensorInfo | undefined | null)[]) => xs.every((x) => !x || x.dtype === 'float32');

function view(backend: BackendWasm, info: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/** Allocates the output, then runs the addon on it (views taken after, as the heap may grow); frees it if the addon throws. */
function into(backend: BackendWasm, shape: number[], run: (out: TensorInfo) => void): TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  try {
    run(out);
  } catch (e) {
    backend.disposeData(out.dataId);
    throw e;
  }
  return out;
}

function dilationOne(d: number | [number, number] | undefined): boolean {
  return d == null || (typeof d === 'number' ? d === 1 : d[0] === 1 && d[1] === 1);
}

/** Conv geometry for the addon, or null when it can't run it (NCHW, dilation, empty). */
function convGeometry(
  xShape: number[],
  filterShape: number[],
  attrs: { strides: any; pad: any; dataFormat?: any; dimRoundingMode?: any; dilations?: any },
  depthwise = false,
): { info: backend_util.Conv2DInfo; geom: number[] } | null {
  if (attrs.dataFormat != null && attrs.dataFormat !== 'NHWC') return null;
  if (!dilationOne(attrs.dilations)) return null;
  const info = backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    depthwise,
  );
  const { batchSize, inHeight, inWidth, inChannels, filterHeight, filterWidth, outChannels } = info;
  const { outHeight, outWidth, strideHeight, strideWidth, padInfo } = info;
  if (size([batchSize, inHeight, inWidth, inChannels, outChannels, outHeight, outWidth]) === 0) return null;
  const geom = [
    batchSize,
    inHeight,
    inWidth,
    inChannels,
    filterHeight,
    filterWidth,
    outChannels,
    outHeight,
    outWidth,
    strideHeight,
    strideWidth,
    padInfo.top,
    padInfo.left,
    padInfo.bottom,
    padInfo.right,
  ];
  return { info, geom };
}

/** Fused activations the addon applies as oneDNN post-ops (codes shared with convlens_dnnl.cc). */
const ACTIVATION_CODES: Record<string, number> = { linear: 0, relu: 1, relu6: 2 };

/** Conv2D / FusedConv2D, and with `depthwise` DepthwiseConv2dNative / FusedDepthwiseConv2D (a grouped oneDNN conv). */
function conv(addon: NativeAddon, args: Args, fused: boolean, depthwise = false): TensorInfo | null {
  const backend = args.backend as BackendWasm;
  const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
  if (!x || !filter || !isF32(x, filter, bias)) return null;
  const activation = fused ? (args.attrs.activation ?? 'linear') : 'linear';
  if (preluActivationWeights || !(activation in ACTIVATION_CODES)) return null;
  const g = convGeometry(x.shape, filter.shape, args.attrs, depthwise);
  if (!g) return null;
  const co = g.info.outChannels;
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== co)) return null;
  return into(backend, g.info.outShape, (y) =>
    (depthwise ? addon.depthwise2d : addon.conv2d)(
      view(backend, x),
      view(backend, filter),
      bias ? view(backend, bias) : null,
      view(backend, y),
      Int32Array.from([...g.geom, bias ? 1 : 0, ACTIVATION_CODES[activation]]),
    ),
  );
}

/** Conv2DBackpropFilter, and with `depthwise` DepthwiseConv2dNativeBackpropFilter. */
function convBackpropFilter(addon: NativeAddon, args: Args, depthwise = false): TensorInfo | null {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  if (!isF32(x, dy)) return null;
  const g = convGeometry(x.shape, args.attrs.filterShape, args.attrs, depthwise);
  if (!g) return null;
  return into(backend, args.attrs.filterShape, (dw) =>
    (depthwise ? addon.depthwiseBackpropFilter : addon.conv2dBackpropFilter)(
      view(backend, x),
      view(backend, dy),
      view(backend, dw),
      Int32Array.from(g.geom),
    ),
  );
}

/** Conv2DBackpropInput, and with `depthwise` DepthwiseConv2dNativeBackpropInput. */
function convBackpropInput(addon: NativeAddon, args: Args, depthwise = false): TensorInfo | null {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  if (!isF32(dy, filter)) return null;
  const g = convGeometry(args.attrs.inputShape, filter.shape, args.attrs, depthwise);
  if (!g) return null;
  return into(backend, args.attrs.inputShape, (dx) =>
    (depthwise ? addon.depthwiseBackpropInput : addon.conv2dBackpropInput)(
      view(backend, dy),
      view(backend, filter),
      view(backend, dx),
      Int32Array.from(g.geom),
    ),
  );
}

function matmul(addon: NativeAddon, args: Args, fused: boolean): TensorInfo | null {
  const backend = args.backend as BackendWasm;
  const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
  if (!a || !b || !isF32(a, b, bias) || a.shape.length < 2 || b.shape.length < 2) return null;
  const activation = fused ? (args.attrs.activation ?? 'linear') : 'linear';
  if (preluActivationWeights || !(activation in ACTIVATION_CODES)) return null;
  const { transposeA, transposeB } = args.attrs;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) return null; // let the original kernel report the mismatch
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = size(outerA);
  const batchB = size(outerB);
  // One side's batch broadcasts over the other's only when it is a single matrix.
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return null;
  const outer = batchA >= batchB ? outerA : outerB;
  if (bias && size(bias.shape) !== n) return null;
  if (m * n * k * Math.max(batchA, batchB) === 0) return null;
  return into(backend, [...outer, m, n], (c) =>
    addon.matmul(
      view(backend, a),
      view(backend, b),
      bias ? view(backend, bias) : null,
      view(backend, c),
      Int32Array.from([
        batchA,
        batchB,
        m,
        k,
        n,
        transposeA ? 1 : 0,
        transposeB ? 1 : 0,
        (bias ? 1 : 0) | [0, 2, 4][ACTIVATION_CODES[activation]],
      ]),
    ),
  );
}

/** Sums over leading axes (bias gradients) or trailing axes; others (middle axes) go to wasm. */
function sum(addon: NativeAddon, args: Args): TensorInfo | null {
  const backend = args.backend as BackendWasm;
  const { x } = args.inputs as { x: TensorInfo };
  const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
  const rank = x.shape.length;
  if (!isF32(x) || rank === 0 || size(x.shape) === 0) return null;
  const axes = [...new Set(util.parseAxisParam(axis, x.shape))].sort((p, q) => p - q);
  if (axes.length === 0 || axes.length === rank) return null;
  const leading = axes.every((a, i) => a === i);
  const trailing = axes.every((a, i) => a === rank - axes.length + i);
  if (!leading && !trailing) return null;
  const split = leading ? axes.length : rank - axes.length;
  const outer = size(x.shape.slice(0, split));
  const inner = size(x.shape.slice(split));
  const reduced = new Set(axes);
  const outShape = keepDims
    ? x.shape.map((d, i) => (reduced.has(i) ? 1 : d))
    : x.shape.filter((_, i) => !reduced.has(i));
  return into(backend, outShape, (y) =>
    addon.sum(view(backend, x), view(backend, y), Int32Array.from([outer, inner, leading ? 0 : 1])),
  );
}

/** Pooling geometry for the addon: N, H, W, C, KH, KW, OH, OW, SH, SW, PT, PL, PB, PR. */
function poolGeometry(
  shape: number[],
  attrs: any,
): { info: backend_util.Conv2DInfo; geom: Int32Array } | null {
  if (size(shape) === 0) return null;
  const { filterSize, strides, pad, dimRoundingMode } = attrs;
  const info = backend_util.computePool2DInfo(
    shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  if (size(info.outShape) === 0) return null;
  const { padInfo } = info;
  const geom = Int32Array.from([
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.filterHeight,
    info.filterWidth,
    info.outHeight,
    info.outWidth,
    info.strideHeight,
    info.strideWidth,
    padInfo.top,
    padInfo.left,
    padInfo.bottom,
    padInfo.right,
  ]);
  return { info, geom };
}

function maxPool(addon: NativeAddon, args: Args): TensorInfo | null {
  const backend = args.backend as BackendWasm;
  const { x } = args.inputs as { x: TensorInfo };
  const g = isF32(x) ? poolGeometry(x.shape, args.attrs) : null;
  if (!g) return null;
  return into(backend, g.info.outShape, (y) => addon.maxPool(view(backend, x), view(backend, y), g.geom));
}

function maxPoolGrad(addon: NativeAddon, args: Args): TensorInfo | null {
  const backend = args.backend as BackendWasm;
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  const g = isF32(dy, input) ? poolGeometry(input.shape, args.attrs) : null;
  if (!g) return null;
  return into(backend, input.shape, (dx) =>
    addon.maxPoolGrad(view(backend, input), view(backend, dy), view(backend, dx), g.geom),
  );
}

/** A [C] float32 statistic (absent: `fill`), or null for other shapes (broadcasts go to wasm). */
function channelValues(backend: BackendWasm, t: TensorInfo | undefined, c: number, fill: number) {
  if (!t) return new Float32Array(c).fill(fill);
  return t.dtype === 'float32' && size(t.shape) === c && t.shape.slice(0, -1).every((d) => d === 1)
    ? view(backend, t)
    : null;
}

/** FusedBatchNorm with [C] statistics: y = x·s + b, s = scale/√(var+ε), b = offset − mean·s. */
function batchNorm(addon: NativeAddon, args: Args): TensorInfo | null {
  const backend = args.backend as BackendWasm;
  const { x, mean, variance, offset, scale } = args.inputs as Record<string, TensorInfo | undefined>;
  if (!x || !mean || !variance || !isF32(x) || x.shape.length < 1 || size(x.shape) === 0) return null;
  const c = x.shape[x.shape.length - 1];
  const m = channelValues(backend, mean, c, 0);
  const v = channelValues(backend, variance, c, 1);
  const o = channelValues(backend, offset, c, 0);
  const g = channelValues(backend, scale, c, 1);
  if (!m || !v || !o || !g) return null;
  const eps = args.attrs.varianceEpsilon as number;
  const s = new Float32Array(c);
  const b = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    s[k] = g[k] / Math.sqrt(v[k] + eps);
    b[k] = o[k] - m[k] * s[k];
  }
  return into(backend, x.shape, (y) =>
    addon.channelAffine(view(backend, x), s, b, view(backend, y), Int32Array.from([size(x.shape) / c, c])),
  );
}

/** Comparison codes shared with convlens_dnnl.cc (x OP scalar), and each one's mirror (scalar OP x). */
const COMPARE: Record<string, [number, number]> = {
  [Greater]: [0, 2],
  [GreaterEqual]: [1, 3],
  [Less]: [2, 0],
  [LessEqual]: [3, 1],
};

/** A float32 tensor compared with a float32 scalar (either side); other cases go to wasm. */
function compareScalar(addon: NativeAddon, args: Args, kernel: string): TensorInfo | null {
  const backend = args.backend as BackendWasm;
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  if (!a || !b || !isF32(a, b)) return null;
  const scalarB = size(b.shape) === 1 && b.shape.length <= a.shape.length;
  const scalarA = !scalarB && size(a.shape) === 1 && a.shape.length <= b.shape.length;
  if (!scalarA && !scalarB) return null;
  const x = scalarB ? a : b;
  if (size(x.shape) === 0) return null;
  const s = view(backend, scalarB ? b : a)[0];
  const out = backend.makeOutput(x.shape, 'bool');
  try {
    addon.compareScalar(
      view(backend, x),
      s,
      backend.typedArrayFromHeap(out) as Uint8Array,
      Int32Array.from([size(x.shape), COMPARE[kernel][scalarB ? 0 : 1]]),
    );
  } catch (e) {
    backend.disposeData(out.dataId);
    throw e;
  }
  return out;
}

/** ConvlensActivationGrad: dy masked by 0 < y < cap in one pass. */
function activationGrad(addon: NativeAddon, args: Args): TensorInfo | null {
  const backend = args.backend as BackendWasm;
  const { dy, y } = args.inputs as { dy: TensorInfo; y: TensorInfo };
  if (!isF32(dy, y) || size(dy.shape) === 0 || size(dy.shape) !== size(y.shape)) return null;
  return into(backend, dy.shape, (dx) =>
    addon.activationGrad(view(backend, dy), view(backend, y), view(backend, dx), args.attrs.cap as number),
  );
}

const IMPLS: [string, NativeFn][] = [
  [Conv2D, (addon, args) => conv(addon, args, false)],
  [FusedConv2D, (addon, args) => conv(addon, args, true)],
  [DepthwiseConv2dNative, (addon, args) => conv(addon, args, false, true)],
  [FusedDepthwiseConv2D, (addon, args) => conv(addon, args, true, true)],
  [Conv2DBackpropFilter, (addon, args) => convBackpropFilter(addon, args)],
  [Conv2DBackpropInput, (addon, args) => convBackpropInput(addon, args)],
  [DepthwiseConv2dNativeBackpropFilter, (addon, args) => convBackpropFilter(addon, args, true)],
  [DepthwiseConv2dNativeBackpropInput, (addon, args) => convBackpropInput(addon, args, true)],
  [BatchMatMul, (addon, args) => matmul(addon, args, false)],
  [_FusedMatMul, (addon, args) => matmul(addon, args, true)],
  [MaxPool, maxPool],
  [FusedBatchNorm, batchNorm],
  ...Object.keys(COMPARE).map((k): [string, NativeFn] => [
    k,
    (addon: NativeAddon, args: Args) => compareScalar(addon, args, k),
  ]),
  [MaxPoolGrad, maxPoolGrad],
  [ACTIVATION_GRAD, activationGrad],
  [Sum, sum],
];

/** Kernels whose addon call threw: they stay on wasm for the rest of the process. */
const failed = new Set<string>();

/** Runs a native kernel; an addon error (a oneDNN limit not foreseen here) falls back with a notice. */
function tryNative(name: string, impl: NativeFn, addon: NativeAddon, args: Args): TensorInfo | null {
  try {
    return impl(addon, args);
  } catch (e: any) {
    failed.add(name);
    process.stderr.write(
      `convlens: native ${name} failed (${String(e?.message ?? e).split('\n')[0]}): using wasm for it\n`,
    );
    return null;
  }
}

/** The kernels registered before the native ones, restored by unregister(). */
const replaced = new Map<string, KernelConfig>();
/** Calls each kernel ran natively (not through its fallback): tests check the native path ran. */
const calls = new Map<string, number>();

export const NATIVE_KERNELS = {
  names: IMPLS.map(([name]) => name),
  calls,

  register(addon: NativeAddon): void {
    registerWasmKernels();
    for (const [name, impl] of IMPLS) {
      const previous = getKernel(name, 'wasm');
      if (!previous) continue;
      replaced.set(name, previous);
      unregisterKernel(name, 'wasm');
      const fallback = previous.kernelFunc as KernelFunc;
      registerKernel({
        kernelName: name,
        backendName: 'wasm',
        kernelFunc: ((args: Args) => {
          const out = failed.has(name) ? null : tryNative(name, impl, addon, args);
          if (!out) return fallback(args as any);
          calls.set(name, (calls.get(name) ?? 0) + 1);
          return out;
        }) as any,
        // Keeps the built-in's setup (it binds the wasm function the fallback calls).
        setupFunc: previous.setupFunc,
      });
    }
  },

  unregister(): void {
    for (const [name, previous] of replaced) {
      unregisterKernel(name, 'wasm');
      registerKernel(previous);
    }
    replaced.clear();
    failed.clear();
  },
};
