/**
 * Depthwise convolution gradients for wasm (the backend has neither). Direct loops: depthwise convs
 * do ~KH·KW multiply-adds per output, so the work is memory-bound and a plain loop is adequate.
 * Filter layout [KH, KW, CI, M]; dy channel ci·M + m.
 */
import {
  backend_util,
  DepthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { type BackendWasm, f32 } from './wasm-heap.ts';

type Info = backend_util.Conv2DInfo;

/** Visits every (input, filter, output) triple of a depthwise conv. */
function forEachTap(info: Info, visit: (xi: number, wi: number, yi: number) => void): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  const m = outChannels / inChannels;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const yBase = ((b * outHeight + oh) * outWidth + ow) * outChannels;
        for (let i = 0; i < kh; i++) {
          const ih = oh * sh - top + i * dh;
          if (ih < 0 || ih >= inHeight) continue;
          for (let j = 0; j < kw; j++) {
            const iw = ow * sw - left + j * dw;
            if (iw < 0 || iw >= inWidth) continue;
            const xBase = ((b * inHeight + ih) * inWidth + iw) * inChannels;
            const wBase = (i * kw + j) * inChannels * m;
            for (let c = 0; c < inChannels; c++) {
              for (let q = 0; q < m; q++) visit(xBase + c, wBase + c * m + q, yBase + c * m + q);
            }
          }
        }
      }
    }
  }
}

function convInfo(xShape: number[], filterShape: number[], attrs: any): Info {
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
}

function backpropInput(args: { inputs: any; backend: unknown; attrs: any }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const info = convInfo(args.attrs.inputShape, filter.shape, args.attrs);
  const dx = backend.makeOutput(args.attrs.inputShape, 'float32');
  const o = f32(backend, dx);
  const w = f32(backend, filter);
  const g = f32(backend, dy);
  o.fill(0);
  forEachTap(info, (xi, wi, yi) => {
    o[xi] += g[yi] * w[wi];
  });
  return dx;
}

function backpropFilter(args: { inputs: any; backend: unknown; attrs: any }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const info = convInfo(x.shape, args.attrs.filterShape, args.attrs);
  const dw = backend.makeOutput(args.attrs.filterShape, 'float32');
  const o = f32(backend, dw);
  const xv = f32(backend, x);
  const g = f32(backend, dy);
  o.fill(0);
  forEachTap(info, (xi, wi, yi) => {
    o[wi] += g[yi] * xv[xi];
  });
  return dw;
}

export const depthwiseBackpropInputConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: backpropInput as any,
};

export const depthwiseBackpropFilterConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: backpropFilter as any,
};
