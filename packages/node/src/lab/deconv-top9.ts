/**
 * Zeiler & Fergus's figure, for the lab: for a few channels of a layer, the 9 held-out images that
 * excite the channel most, each one's strongest unit in that channel projected back to pixels by
 * DeconvNet and, beside it, by guided backprop, then the images themselves.
 */

import type { ImageSet } from '@convlens/core/data/types';
import { tf } from '@convlens/core/engine/backend';
import { deconvProjection } from '@convlens/core/methods/explain/deconvnet';
import { mapToImage, symmetricRange } from '@convlens/core/render/colormap';
import { crop, grid, type RGBAImage, upscale } from '@convlens/core/render/image';
import { stack } from '../figures/panels.ts';
import { labelledPanel } from '../io/png.ts';
import { exampleImage, modelInput } from './figures.ts';

export interface Top9Result {
  figure: RGBAImage;
  layer: string;
  /** Per channel: the images (set indices) and their strongest activation in the channel. */
  channels: { channel: number; indices: number[]; activations: number[] }[];
}

/** Per image, the max over positions of each channel of `layer`: [n][channels]. */
async function channelMaxima(
  model: tf.LayersModel,
  layer: string,
  set: ImageSet,
  indices: number[],
  standardizer: Parameters<typeof modelInput>[2],
): Promise<Float32Array[]> {
  const sub = tf.model({ inputs: model.inputs, outputs: model.getLayer(layer).output as tf.SymbolicTensor });
  const out: Float32Array[] = [];
  for (let s = 0; s < indices.length; s += 128) {
    const idx = indices.slice(s, s + 128);
    const m = tf.tidy(() => {
      const x = tf.tensor4d(modelInput(set, idx, standardizer), [
        idx.length,
        set.height,
        set.width,
        set.channels,
      ]);
      return tf.max(sub.predict(x) as tf.Tensor4D, [1, 2]);
    });
    const data = (await m.data()) as Float32Array;
    const c = m.shape[1] as number;
    m.dispose();
    for (let i = 0; i < idx.length; i++) out.push(data.slice(i * c, (i + 1) * c));
  }
  return out;
}

const tile = (m: Float32Array, w: number, h: number) =>
  mapToImage(m, w, h, { colormap: 'rdbu', range: symmetricRange(m) });

/** Bounding box of a map's non-zero pixels (the part of the input the projected unit sees). */
function support(m: Float32Array, w: number): { x0: number; y0: number; x1: number; y1: number } {
  let [x0, y0, x1, y1] = [Infinity, Infinity, -1, -1];
  m.forEach((v, i) => {
    if (Math.abs(v) <= 1e-12) return;
    const [y, x] = [Math.floor(i / w), i % w];
    [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  });
  return x1 < 0 ? { x0: 0, y0: 0, x1: w - 1, y1: w - 1 } : { x0, y0, x1, y1 };
}

export async function deconvTop9(
  model: tf.LayersModel,
  layer: string,
  set: ImageSet,
  images: number,
  channelCount: number,
  standardizer?: Parameters<typeof modelInput>[2],
): Promise<Top9Result> {
  const pool = Array.from({ length: Math.min(images, set.count) }, (_, i) => i);
  const maxima = await channelMaxima(model, layer, set, pool, standardizer);
  const channels = Math.min(channelCount, maxima[0]?.length ?? 0);
  const rows: RGBAImage[] = [];
  const result: Top9Result['channels'] = [];
  const { width: W, height: H, channels: C } = set;
  for (let ch = 0; ch < channels; ch++) {
    const top = [...pool].sort((a, b) => maxima[b][ch] - maxima[a][ch]).slice(0, 9);
    const x = tf.tensor4d(modelInput(set, top, standardizer), [top.length, H, W, C]);
    try {
      // Signed projections summed over input channels, per rule.
      const maps: Float32Array[][] = [];
      let activations: number[] = [];
      for (const rule of ['deconvnet', 'guided'] as const) {
        const p = await deconvProjection(model, x, { layer, mode: 'channel-max', channel: ch, rule });
        activations = p.activations;
        const sum = tf.tidy(() => tf.sum(p.projection, 3));
        const data = (await sum.data()) as Float32Array;
        tf.dispose([sum, p.projection]);
        maps.push(top.map((_, i) => data.slice(i * H * W, (i + 1) * H * W)));
      }
      // As Zeiler & Fergus do: crop every tile to its unit's support (one window size per row).
      const boxes = maps[0].map((m) => support(m, W));
      const size = Math.min(
        Math.max(H, W),
        2 + Math.max(...boxes.map((b) => Math.max(b.x1 - b.x0, b.y1 - b.y0) + 1)),
      );
      const factor = Math.max(2, Math.floor(56 / size));
      const cut = (img: RGBAImage, i: number) => {
        const b = boxes[i];
        const cx = Math.round((b.x0 + b.x1) / 2);
        const cy = Math.round((b.y0 + b.y1) / 2);
        return upscale(crop(img, cx - Math.floor(size / 2), cy - Math.floor(size / 2), size, size), factor);
      };
      const blocks = [
        ...maps.map((ms) => ms.map((m, i) => cut(tile(m, W, H), i))),
        top.map((img, i) => cut(exampleImage(set, img), i)),
      ].map((tiles) => grid(tiles, { columns: 3, gap: 2, background: [255, 255, 255, 255] }));
      rows.push(
        await labelledPanel(grid(blocks, { columns: 3, gap: 16, background: [255, 255, 255, 255] }), {
          title: `channel ${ch}: DeconvNet | guided backprop | images (held-out ${top.join(', ')})`,
          fontSize: 11,
        }),
      );
      result.push({ channel: ch, indices: top, activations });
    } finally {
      x.dispose();
    }
  }
  const figure = await labelledPanel(stack(rows, 8), {
    title: `Top-9 images of ${channels} channels of '${layer}', projected back to pixels`,
    caption: [
      `each channel's 9 strongest images among the first ${pool.length} held-out ones; per image, the channel's strongest unit projected down`,
      'left: DeconvNet (ReLUs pass the positive part of the signal going down); middle: guided backprop of the same unit; right: the images',
      'tiles cropped to each unit’s support in the input; projections: blue negative, white 0, red positive, one symmetric scale per tile',
    ],
  });
  return { figure, layer, channels: result };
}
