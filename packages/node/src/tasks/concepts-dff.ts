/**
 * `convlens concepts dff`: Deep Feature Factorization of one layer over one image or a few (core
 * methods/concepts/dff.ts). Writes, into --out (replaced atomically as a whole):
 * - dff.png: per image, the input and its concept regions, with a legend naming each concept by the
 *   classes its vector scores highest through the head;
 * - maps.npy [N, K, h, w] (layer resolution, NMF amounts), regions.npy [N, K, H, W] (input resolution,
 *   each concept scaled to [0, 1] per image), concepts.npy [K, C] (the concept vectors);
 * - index.json: layer, K, labels with scores, the NMF error, the files.
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '@convlens/core/engine/backend';
import type { JobHooks } from '@convlens/core/jobs/job';
import { encodeNpy } from '@convlens/core/methods/actmax/npy';
import { deepFeatureFactorization, softmax } from '@convlens/core/methods/concepts/dff';
import { categoricalColor } from '@convlens/core/render/colormap';
import { drawConceptRegions } from '@convlens/core/render/concept-regions';
import { grid, imageFromBytes, type RGBAImage, upscale } from '@convlens/core/render/image';
import { checkOutDir } from '../figures/figure-set.ts';
import { withLegend } from '../figures/legend.ts';
import { writeDirAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { encodePng, labelledPanel } from '../io/png.ts';
import { shortClassName } from '../open/class-lookup.ts';
import type { OpenedModel } from '../open/open-model.ts';
import { readModelInput } from './model-input.ts';

export interface DffTaskOptions {
  images: string[];
  layer?: string;
  /** Concepts (default 5). */
  k?: number;
  /** Classes named per concept (default 2). */
  top?: number;
  seed?: number;
  out: string;
}

export interface DffConcept {
  index: number;
  colour: [number, number, number];
  /** Top classes by softmax of the concept's scores through the head. */
  labels: { class: number; name: string; probability: number; score: number }[];
  /** Share of each image's pixels where this concept is the strongest. */
  area: number[];
}

export interface DffIndex {
  model: string;
  layer: string;
  layerShape: [number, number, number];
  k: number;
  images: string[];
  concepts: DffConcept[];
  nmf: { relativeError: number; iterations: number; seed: number };
  files: { figure: string; maps: string; regions: string; concepts: string };
  seconds: number;
}

const round = (x: number, d = 4) => Number(x.toPrecision(d));

export async function dffTask(m: OpenedModel, o: DffTaskOptions, hooks: JobHooks = {}): Promise<DffIndex> {
  const k = o.k ?? 5;
  const top = o.top ?? 2;
  const seed = o.seed ?? 0;
  if (!(Number.isInteger(k) && k >= 1 && k <= 20)) throw new Error(`--k must be an integer 1–20, got ${o.k}`);
  if (o.images.length === 0) throw new Error('--image: give at least one image');
  if (m.graph)
    throw new Error(`${m.source}: graph model: no layers to factorize; import it as a layers model`);
  await checkOutDir(o.out);
  const log = (s: string) => hooks.log?.(s);
  const inputs = [];
  for (const image of o.images) inputs.push(await readModelInput(m, { image }, log));
  const [H, W, C] = m.inputShape;
  const t0 = performance.now();
  const x = tf.tensor4d(Float32Array.from(inputs.flatMap((i) => Array.from(i.x))), [inputs.length, H, W, C]);
  let r: ReturnType<typeof deepFeatureFactorization>;
  try {
    r = deepFeatureFactorization(m.model, x, { layer: o.layer, k, seed });
  } finally {
    x.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  const [h, w] = r.layerShape;
  const named = (i: number) => shortClassName(m.classNames[i] ?? String(i));
  const concepts: DffConcept[] = r.scores.map((s, j) => {
    const p = softmax(s);
    const order = p.map((_, i) => i).sort((a, b) => p[b] - p[a]);
    const area = r.regions.map((reg) => {
      let n = 0;
      for (let q = 0; q < H * W; q++) {
        let best = 0;
        for (let jj = 1; jj < k; jj++) if (reg[jj * H * W + q] > reg[best * H * W + q]) best = jj;
        if (best === j) n++;
      }
      return round(n / (H * W));
    });
    return {
      index: j,
      colour: categoricalColor(j),
      labels: order.slice(0, top).map((c) => ({
        class: c,
        name: m.classNames[c] ?? String(c),
        probability: round(p[c]),
        score: round(s[c]),
      })),
      area,
    };
  });
  const scale = Math.max(1, Math.ceil(224 / Math.max(H, W)));
  const tiles: RGBAImage[] = [];
  for (const [i, input] of inputs.entries()) {
    const base = imageFromBytes(input.bytes, W, H, C);
    const name = input.source.split('/').pop() ?? input.source;
    tiles.push(await labelledPanel(upscale(base, scale), { title: name, fontSize: 11, minWidth: 120 }));
    tiles.push(
      await labelledPanel(upscale(drawConceptRegions(base, r.regions[i], k), scale), {
        title: `${k} concepts`,
        fontSize: 11,
        minWidth: 120,
      }),
    );
  }
  const figure = await withLegend(
    grid(tiles, { columns: 2, gap: 6, background: [255, 255, 255, 255] }),
    `Deep Feature Factorization of ${r.layer} (${h}×${w}×${r.layerShape[2]})`,
    concepts.map((c) => ({
      colour: c.colour,
      text: `concept ${c.index + 1}: ${c.labels.map((l) => `${named(l.class)} ${l.probability.toFixed(2)}`).join(', ')}`,
    })),
  );
  const files = { figure: 'dff.png', maps: 'maps.npy', regions: 'regions.npy', concepts: 'concepts.npy' };
  const n = inputs.length;
  const cat = (parts: Float32Array[]) => {
    const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  };
  const index: DffIndex = {
    model: m.source,
    layer: r.layer,
    layerShape: r.layerShape,
    k,
    images: inputs.map((i) => i.source),
    concepts,
    nmf: { relativeError: round(r.relativeError), iterations: r.iterations, seed },
    files,
    seconds: round(seconds),
  };
  await writeDirAtomic(o.out, async (dir) => {
    await writeFile(join(dir, files.figure), await encodePng(figure));
    await writeFile(join(dir, files.maps), encodeNpy(cat(r.maps), [n, k, h, w]));
    await writeFile(join(dir, files.regions), encodeNpy(cat(r.regions), [n, k, H, W]));
    await writeFile(join(dir, files.concepts), encodeNpy(r.concepts, [k, r.layerShape[2]]));
    await writeJsonAtomic(join(dir, 'index.json'), index);
  });
  return index;
}

/** One line per concept: its colour index and its labels. */
export function dffSummary(index: DffIndex, out: string): string {
  const lines = index.concepts.map(
    (c) =>
      `  concept ${c.index + 1}: ${c.labels.map((l) => `${shortClassName(l.name)} ${l.probability.toFixed(2)}`).join(', ')} (area ${c.area.map((a) => `${Math.round(a * 100)}%`).join(', ')})`,
  );
  return `DFF of ${index.layer}, ${index.k} concepts (NMF error ${index.nmf.relativeError}):\n${lines.join('\n')}\nwrote dff.png, maps.npy, regions.npy, concepts.npy and index.json to ${out}`;
}
