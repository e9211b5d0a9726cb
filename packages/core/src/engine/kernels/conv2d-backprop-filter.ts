/**
 * Conv2DBackpropFilter for wasm (the backend has none). dW = colᵀ·dy, with colᵀ the transposed
 * im2col matrix of x ([KH·KW·CI, N·OH·OW]), as plain wasm MatMuls over chunks of a few images.
 *
 * Why chunks: XNNPACK packs the right-hand operand of every MatMul afresh (gradients are new
 * tensors each step), and packing a tall [N·OH·OW, CO] matrix is cache-hostile: for pw11's conv2 at
 * batch 128 it cost more than the multiply itself. Packing chunks of ~2,000 rows stays in cache, and
 * the chunks of dy are aliased in place, not copied.
 */
import { Conv2DBackpropFilter, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs';
import { aliasSlice, type BackendWasm, callKernel, dropAlias, f32, free, nhwcConvInfo } from './wasm-heap.ts';

/** Target rows (output positions) per chunk: measured best for pw11-sized layers. */
const CHUNK_ROWS = 2304;

function conv2dBackpropFilter(args: { inputs: any; backend: unknown; attrs: any }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { filterShape } = args.attrs;
  const info = nhwcConvInfo(Conv2DBackpropFilter, x.shape, filterShape, args.attrs);
  const { batchSize, inHeight, inWidth, inChannels: ci, outHeight, outWidth, outChannels: co } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const K = kh * kw * ci;
  const perImage = outHeight * outWidth;
  const chunk = Math.max(1, Math.min(batchSize, Math.round(CHUNK_ROWS / perImage)));

  const dw = backend.makeOutput([kh, kw, ci, co], 'float32');
  const acc = new Float32Array(K * co);
  for (let b0 = 0; b0 < batchSize; b0 += chunk) {
    const nb = Math.min(chunk, batchSize - b0);
    const rows = nb * perImage;
    const colT = backend.makeOutput([K, rows], 'float32');
    {
      const cv = f32(backend, colT);
      const xv = f32(backend, x);
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          for (let c = 0; c < ci; c++) {
            let o = ((i * kw + j) * ci + c) * rows;
            for (let b = b0; b < b0 + nb; b++) {
              const xb = b * inHeight;
              for (let oh = 0; oh < outHeight; oh++) {
                const ih = oh * sh - padTop + i;
                if (ih < 0 || ih >= inHeight) {
                  cv.fill(0, o, o + outWidth);
                  o += outWidth;
                  continue;
                }
                const rowBase = (xb + ih) * inWidth;
                for (let ow = 0; ow < outWidth; ow++) {
                  const iw = ow * sw - padLeft + j;
                  cv[o++] = iw >= 0 && iw < inWidth ? xv[(rowBase + iw) * ci + c] : 0;
                }
              }
            }
          }
        }
      }
    }
    const dyChunk = aliasSlice(backend, dy, b0 * perImage * co, [rows, co]);
    const part = callKernel(
      'BatchMatMul',
      backend,
      { a: colT, b: dyChunk },
      { transposeA: false, transposeB: false },
    );
    const pv = f32(backend, part);
    for (let k = 0; k < acc.length; k++) acc[k] += pv[k];
    dropAlias(backend, dyChunk);
    free(backend, colT, part);
  }
  f32(backend, dw).set(acc);
  return dw;
}

export const conv2dBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilter as any,
};
