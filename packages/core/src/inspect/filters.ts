/**
 * Conv kernels as images: per output filter, one kh×kw map per input channel, or one RGB image when
 * the layer reads 3 channels. One symmetric range per layer, so colours compare across filters and
 * zero is always the diverging colormap's midpoint.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ValueRange } from '../render/colormap.ts';

export interface LayerFilters {
  layer: string;
  kh: number;
  kw: number;
  inChannels: number;
  filters: number;
  /** Symmetric range [−m, m] of all the layer's kernel weights. */
  range: ValueRange;
  /** kernel(f, c): row-major kh×kw weights of output filter f on input channel c. */
  kernel(filter: number, channel: number): Float32Array;
}

export function convLayerNames(model: tf.LayersModel): string[] {
  return model.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.name);
}

/** The kernels of a Conv2D layer, laid out per filter and input channel. */
export function layerFilters(model: tf.LayersModel, name: string): LayerFilters {
  const layer = model.layers.find((l) => l.name === name);
  if (!layer) throw new Error(`unknown layer '${name}' (conv layers: ${convLayerNames(model).join(', ')})`);
  if (layer.getClassName() !== 'Conv2D') {
    throw new Error(`layer '${name}' is a ${layer.getClassName()}, not a Conv2D layer with filters to show`);
  }
  const kernel = layer.getWeights()[0];
  const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
  const w = kernel.dataSync() as Float32Array;
  let m = 0;
  for (let i = 0; i < w.length; i++) m = Math.max(m, Math.abs(w[i]));
  return {
    layer: name,
    kh,
    kw,
    inChannels: cin,
    filters: cout,
    range: { min: -m, max: m },
    kernel(f, c) {
      const out = new Float32Array(kh * kw);
      for (let p = 0; p < kh * kw; p++) out[p] = w[(p * cin + c) * cout + f];
      return out;
    },
  };
}
