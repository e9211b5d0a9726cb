/**
 * convlens embed end to end on a features folder of a small trained run (300 quadrant images, cnn1's
 * dense layer), its determinism under a seed, and its one-line errors.
 */
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNpy } from '@convlens/core/methods/actmax/npy';
import Fastify from 'fastify';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFeatureMap, registerFeatureMapRoutes } from '../src/serve/feature-map-route.ts';
import { embedFeatures } from '../src/tasks/embed.ts';
import { errorLines, runCli, trainQuadrantRun } from './cli-helpers.ts';

let root: string;
let feats: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'convlens-embed-'));
  const { data, run } = await trainQuadrantRun(root, { test: 300 });
  feats = join(root, 'feats');
  const r = await runCli([
    'features',
    '--model',
    run,
    '--layer',
    'dense1',
    '--dataset',
    data,
    '--out',
    feats,
  ]);
  if (r.code !== 0) throw new Error(`features failed: ${r.stderr}`);
}, 180_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('convlens embed', () => {
  it('maps 300 images, scores the separation, draws the figures and finds same-class neighbours', async () => {
    const out = join(root, 'map');
    const r = await runCli([
      'embed',
      '--features',
      feats,
      '--neighbors',
      '5',
      'idx:test:6',
      '--k',
      '4',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.points).toBe(300);
    expect(s.features).toBe(128);
    // Quadrant classes are learnt in one epoch: the dense layer separates them, and UMAP keeps that.
    expect(s.quality.full.accuracy).toBeGreaterThan(0.9);
    expect(s.quality.map.accuracy).toBeGreaterThan(0.85);
    expect(s.quality.full.chance).toBeCloseTo(0.25, 1);
    const e = JSON.parse(await readFile(join(out, 'embedding.json'), 'utf8'));
    expect(e.method).toBe('umap');
    expect(e.coordinates).toHaveLength(300);
    expect(e.labels.slice(0, 4)).toEqual([0, 1, 2, 3]);
    expect(e.files[6]).toBe('idx:test:6');
    const npyBytes = await readFile(join(out, 'embedding.npy'));
    const npy = parseNpy(
      new Uint8Array(npyBytes.buffer, npyBytes.byteOffset, npyBytes.byteLength),
      'embedding.npy',
    );
    expect(npy.shape).toEqual([300, 2]);
    expect(npy.data[2 * 7 + 1]).toBeCloseTo(e.coordinates[7][1], 4);
    expect(e.neighbors.map((n: { row: number }) => n.row)).toEqual([5, 6]);
    for (const nr of e.neighbors) {
      expect(nr.neighbors).toHaveLength(4);
      const same = nr.neighbors.filter((n: { label: number }) => n.label === nr.label).length;
      expect(same).toBeGreaterThanOrEqual(3);
    }
    // Figures: real PNGs of sensible size, and a thumbnail atlas with one 32-px cell per point.
    for (const f of ['scatter-umap.png', 'scatter-pca.png', 'thumbnail-map-umap.png', 'neighbors-5.png']) {
      const m = await sharp(join(out, f)).metadata();
      expect(m.width).toBeGreaterThan(300);
    }
    const atlas = await sharp(join(out, 'thumbnails.png')).metadata();
    expect(atlas.width).toBe(e.thumbnails.columns * 32);
    expect(atlas.height).toBe(Math.ceil(300 / e.thumbnails.columns) * 32);
    expect(await readFile(join(out, 'scatter-umap.svg'), 'utf8')).toContain('UMAP of dense1');

    // The explorer's routes serve the folder: the data and the thumbnail atlas.
    const app = Fastify();
    registerFeatureMapRoutes(app, out, await loadFeatureMap(out));
    const api = await app.inject({ url: '/api/feature-map' });
    expect(api.json().coordinates).toHaveLength(300);
    expect(api.json().thumbnails).toEqual({ size: 32, columns: e.thumbnails.columns });
    const png = await app.inject({ url: '/files/feature-map/thumbnails.png' });
    expect(png.headers['content-type']).toBe('image/png');
    expect(png.rawPayload.length).toBe((await stat(join(out, 'thumbnails.png'))).size);
    await app.close();
    await expect(loadFeatureMap(feats)).rejects.toThrow(
      /no embedding\.json \(give a folder written by convlens embed\)$/,
    );
  });

  it('is deterministic under a seed and changes with it', async () => {
    const run = (seed: number, out: string) =>
      embedFeatures({ features: feats, out: join(root, out), seed, thumbnails: false });
    const a = await run(3, 'a');
    const b = await run(3, 'b');
    const c = await run(4, 'c');
    const coords = async (d: string) =>
      JSON.parse(await readFile(join(root, d, 'embedding.json'), 'utf8')).coordinates;
    const [ca, cb, cc] = await Promise.all([coords('a'), coords('b'), coords('c')]);
    expect(cb).toEqual(ca);
    expect(cc).not.toEqual(ca);
    expect(b.quality).toEqual(a.quality);
    expect(c.points).toBe(300);
  });

  it('fails in one line, writing nothing, on a missing or garbled folder and an index out of range', async () => {
    const missing = await runCli(['embed', '--features', join(root, 'nope'), '--out', join(root, 'm1')]);
    expect(missing.code).toBe(1);
    expect(errorLines(missing.stderr)).toHaveLength(1);
    expect(missing.stderr).toMatch(/nope\/index\.json: cannot read the features index \(not found\)/);

    const garbled = join(root, 'garbled');
    await cp(feats, garbled, { recursive: true });
    await writeFile(join(garbled, 'index.json'), '{"format": "convlens-feat');
    // The same messages in-process (a CLI start costs seconds): the CLI prints them as they are.
    await expect(embedFeatures({ features: garbled, out: join(root, 'm2') })).rejects.toThrow(
      /garbled\/index\.json: not valid JSON \(corrupt or truncated\)$/,
    );
    await expect(
      embedFeatures({ features: feats, out: join(root, 'm3'), neighbors: ['300'] }),
    ).rejects.toThrow(/^--neighbors 300: index out of range \(the features have 300 rows, 0–299\)$/);
    await expect(embedFeatures({ features: feats, out: feats })).rejects.toThrow(
      /is the features folder itself/,
    );
    for (const d of ['m1', 'm2', 'm3']) await expect(stat(join(root, d))).rejects.toThrow();
  });
});
