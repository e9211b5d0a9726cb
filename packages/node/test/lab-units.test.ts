/** The lab's pieces with known answers: the tv-weight rule, overlays, charts, and leak-free snapshots. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageSet } from '@convlens/core/data/types';
import { initBackend, tf } from '@convlens/core/engine/backend';
import type { ExplainMethod } from '@convlens/core/methods/explain/types';
import { buildModel } from '@convlens/core/models/build';
import { lut } from '@convlens/core/render/colormap';
import { createImage } from '@convlens/core/render/image';
import { drawExplanation } from '@convlens/core/render/overlay';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelInput } from '../src/lab/figures.ts';
import { buildHtml } from '../src/lab/report-html.ts';
import { resolveSettings } from '../src/lab/settings.ts';
import { epochSnapshot } from '../src/lab/snapshot.ts';
import { chooseTvWeight } from '../src/lab/stage-part2.ts';
import { confusionChart, lineChart, svgToImage } from '../src/lab/svg-chart.ts';

let out: string;
beforeAll(async () => {
  await initBackend('wasm');
  out = await mkdtemp(join(tmpdir(), 'convlens-lab-units-'));
});
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe('chooseTvWeight: the largest weight keeping every class at ≥ 0.9', () => {
  it('picks the largest qualifying weight, not the first', () => {
    expect(chooseTvWeight([0, 0.5, 2, 8], [0.95, 0.99, 0.91, 0.4])).toEqual({
      index: 2,
      weight: 2,
      byRule: true,
    });
  });
  it('qualifies exactly at the threshold', () => {
    expect(chooseTvWeight([0, 1], [0.95, 0.9]).weight).toBe(1);
  });
  it('falls back to the highest minimum probability, and says so', () => {
    expect(chooseTvWeight([0, 1, 4], [0.3, 0.7, 0.5])).toEqual({ index: 1, weight: 1, byRule: false });
  });
});

describe('drawExplanation', () => {
  it('blends inferno over the digit: the map max gets inferno’s top colour, zero its bottom', () => {
    const digit = createImage(2, 1);
    digit.data.set([100, 100, 100, 255, 200, 200, 200, 255]);
    const img = drawExplanation(
      {
        method: 't',
        maps: [Float32Array.from([0, 3])],
        height: 1,
        width: 2,
        signed: false,
        targets: [0],
        warnings: [[]],
        meta: {},
      },
      0,
      digit,
      1,
    );
    const t = lut('inferno');
    const mix = (base: number, heat: number) => Math.round(0.4 * base + 0.6 * heat);
    expect(Array.from(img.data.slice(0, 3))).toEqual([mix(100, t[0]), mix(100, t[1]), mix(100, t[2])]);
    expect(Array.from(img.data.slice(4, 7))).toEqual([mix(200, t[765]), mix(200, t[766]), mix(200, t[767])]);
  });
});

describe('charts', () => {
  it('draws learning curves at the asked size, not blank', async () => {
    const svg = lineChart('Loss', 'epoch', 'loss', [
      {
        name: 'train',
        color: '#1f77b4',
        points: [
          [1, 2],
          [2, 1],
          [3, 0.5],
        ],
      },
      {
        name: 'val',
        color: '#d62728',
        points: [
          [1, 2.2],
          [2, Number.NaN],
          [3, 0.7],
        ],
        dashed: true,
      },
    ]);
    const img = await svgToImage(svg);
    expect([img.width, img.height]).toEqual([560, 340]);
    let dark = 0;
    for (let i = 0; i < img.data.length; i += 4) if (img.data[i] < 128) dark++;
    expect(dark).toBeGreaterThan(500);
    expect(svg).toContain('>epoch<');
  });
  it('puts every count in the confusion matrix', () => {
    const svg = confusionChart(
      [
        [7, 1],
        [2, 9],
      ],
      ['a', 'b'],
      'title',
    );
    for (const n of [7, 1, 2, 9]) expect(svg).toContain(`>${n}</text>`);
  });
});

describe('epochSnapshot', () => {
  const classes = 10;
  const set: ImageSet = {
    images: Uint8Array.from({ length: 20 * 28 * 28 }, (_, i) => (i * 37) % 256),
    labels: Uint8Array.from({ length: 20 }, (_, i) => i % classes),
    count: 20,
    height: 28,
    width: 28,
    channels: 1,
    numClasses: classes,
  };
  // A stand-in Grad-CAM with a known answer: the map is the input itself.
  const identity: ExplainMethod = {
    id: 'gradcam',
    title: 'identity',
    description: 'map = input',
    needsLayer: false,
    async explain(req) {
      const data = (await req.input.data()) as Float32Array;
      const n = req.input.shape[0];
      const hw = 28 * 28;
      return {
        method: 'gradcam',
        maps: Array.from({ length: n }, (_, i) => data.slice(i * hw, (i + 1) * hw)),
        height: 28,
        width: 28,
        signed: false,
        targets: Array.isArray(req.target) ? req.target : [req.target],
        warnings: [],
        meta: {},
      };
    },
  };

  it('writes every timeline figure, and leaks no tensors across calls', async () => {
    const model = buildModel('pw11', { inputShape: [28, 28, 1], numClasses: classes, seed: 3 });
    const probes = {
      set,
      indices: Array.from({ length: classes }, (_, i) => i),
      names: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    };
    const first = await epochSnapshot(out, model, probes, 1, 3, 1, identity);
    const before = tf.memory().numTensors;
    const again = await epochSnapshot(out, model, probes, 2, 3, 1, identity);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    expect(Object.keys(first.figures).sort()).toEqual(['actmax', 'filters', 'fmaps', 'gradcam']);
    for (const f of Object.values(again.figures)) {
      const meta = await sharp(await readFile(join(out, f.src))).metadata();
      expect([meta.width, meta.height]).toEqual([f.width, f.height]);
      expect(f.width).toBeGreaterThan(100);
    }
    const p = again.numbers.actmaxProbability as number[];
    expect(p).toHaveLength(classes);
    for (const v of p) expect(v).toBeGreaterThanOrEqual(0);
    for (const v of p) expect(v).toBeLessThanOrEqual(1);
  });

  it('survives a failing Grad-CAM: no figure, the error recorded', async () => {
    const model = buildModel('pw11', { inputShape: [28, 28, 1], numClasses: classes, seed: 3 });
    const broken: ExplainMethod = {
      ...identity,
      async explain() {
        throw new Error('no gradient for you');
      },
    };
    const probes = { set, indices: [0, 1], names: Array.from({ length: classes }, (_, i) => String(i)) };
    const r = await epochSnapshot(out, model, probes, 3, 2, 1, broken);
    model.dispose();
    expect(r.figures.gradcam).toBeUndefined();
    expect(r.numbers.gradcamError).toBe('no gradient for you');
  });

  it('feeds the model bytes/255 in probe order', () => {
    const x = modelInput(set, [2, 0], undefined);
    expect(x.length).toBe(2 * 784);
    expect(x[0]).toBeCloseTo(set.images[2 * 784] / 255, 7);
    expect(x[784 + 5]).toBeCloseTo(set.images[5] / 255, 7);
  });
});

describe('buildHtml', () => {
  it('lists every section in the contents, marks stages not yet run, and escapes text', () => {
    const html = buildHtml(
      resolveSettings({ dataset: 'a<b', model: 'pw11', seed: 1, out: 'x', backend: 'wasm' }),
      {},
      {},
    );
    for (const id of [
      'data',
      'train',
      'test',
      'part1',
      'part2',
      'part3',
      'methods',
      'featuremap',
      'transfer',
    ])
      expect(html).toContain(`href="#${id}"`);
    expect(html.match(/Not computed yet/g)).toHaveLength(9);
    expect(html).toContain('a&#60;b');
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
  });
});
