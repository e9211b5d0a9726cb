/** `convlens maximize` end to end on a run trained here (quadrant data), and every bad input. */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy } from '@convlens/core/methods/actmax/npy';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLines, runCli, trainQuadrantRun } from './cli-helpers.ts';

let root: string;
let run: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'convlens-max-'));
  ({ run } = await trainQuadrantRun(root, { train: 512, test: 128, epochs: 2 }));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('convlens maximize', () => {
  it('sweeps classes × tv weights: labelled PNGs, a grid and an index with every number', async () => {
    const out = join(root, 'sweep');
    const r = await runCli([
      'maximize',
      '--run',
      run,
      '--class',
      'all',
      '--steps',
      '40',
      '--sweep-tv',
      '0,4,32',
      '--seed',
      '3',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/maximize \[.*\] 100% 120\/120 steps/);
    const index = JSON.parse(r.stdout);
    expect(JSON.parse(await readFile(join(out, 'index.json'), 'utf8'))).toEqual(index);
    expect(index.tvWeights).toEqual([0, 4, 32]);
    expect(index.rows).toHaveLength(4);
    expect(index.files).toHaveLength(12);
    for (const f of index.files) {
      expect(existsSync(join(out, f.file)), f.file).toBe(true);
      expect(f.curve).toHaveLength(40);
      expect(f.targetClass).toBe(f.row);
    }
    // Unregularized class images are classified as their class with high probability.
    const tv0 = index.files.filter((f: any) => f.tvWeight === 0);
    for (const f of tv0) {
      expect(f.predicted).toBe(f.targetClass);
      expect(f.targetProbability).toBeGreaterThan(0.9);
      expect(f.curve.at(-1)).toBeGreaterThan(f.curve[0]);
    }
    expect(index.summary.atLeast0_9[0]).toBe(4);
    const tv = index.summary.meanTotalVariation;
    expect(tv[1]).toBeLessThan(tv[0]);
    expect(tv[2]).toBeLessThan(tv[1]);
    // Images are not blank: the grid has dark and light pixels; each panel is larger than its 16×16 image.
    const grid = await sharp(join(out, index.grid)).raw().toBuffer({ resolveWithObject: true });
    expect(grid.info.width).toBeGreaterThan(3 * 96);
    expect(grid.info.height).toBeGreaterThan(4 * 96);
    const px = grid.data.reduce((m, v) => [Math.min(m[0], v), Math.max(m[1], v)], [255, 0]);
    expect(px[0]).toBeLessThan(40);
    expect(px[1]).toBeGreaterThan(215);
    const panel = await sharp(join(out, tv0[0].file)).metadata();
    expect(panel.width).toBeGreaterThanOrEqual(112);
    expect((await readdir(out)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('filters, units and a combined objective from a start image', async () => {
    const out = join(root, 'filters');
    const r = await runCli([
      'maximize',
      '--run',
      run,
      '--layer',
      'conv2',
      '--filter',
      '0,5',
      '--steps',
      '20',
      '--jitter',
      '1',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const index = JSON.parse(r.stdout);
    expect(index.files.map((f: any) => f.file)).toEqual(['conv2-f0.png', 'conv2-f5.png']);
    for (const f of index.files) expect(f.objective).toBeGreaterThan(f.curve[0]);

    const npy = join(root, 'start.npy');
    await writeFile(npy, encodeNpy(new Float32Array(256).fill(0.3), [16, 16, 1]));
    const out2 = join(root, 'together');
    const r2 = await runCli([
      'maximize',
      '--run',
      run,
      '--class',
      '0,3',
      '--together',
      '--weights',
      '1,1',
      '--start',
      npy,
      '--steps',
      '20',
      '--out',
      out2,
      '--json',
    ]);
    expect(r2.code, r2.stderr).toBe(0);
    const i2 = JSON.parse(r2.stdout);
    expect(i2.files).toHaveLength(1);
    expect(i2.files[0].file).toBe('class-0+class-3.png');
    expect(i2.options.start).toBe(npy);

    const out3 = join(root, 'unit');
    const r3 = await runCli([
      'maximize',
      '--run',
      run,
      '--layer',
      'dense1',
      '--unit',
      '4',
      '--steps',
      '10',
      '--out',
      out3,
      '--json',
    ]);
    expect(r3.code, r3.stderr).toBe(0);
    expect(JSON.parse(r3.stdout).files[0].file).toBe('dense1-u4.png');
  });
});

describe('bad input: one line, exit ≠ 0, no output files', () => {
  const cases: [string, () => string[], RegExp][] = [
    [
      'class out of range',
      () => ['--class', '4'],
      /class 4 is out of range: the model has 4 classes \(0-3\)/,
    ],
    [
      'filter beyond the layer',
      () => ['--layer', 'conv1', '--filter', '32'],
      /filter 32 is out of range: layer conv1 has 32 filters \(0-31\)/,
    ],
    [
      'unknown layer',
      () => ['--layer', 'conv9', '--filter', '0'],
      /no layer 'conv9' .*\(layers: .*conv1, pool1, conv2/,
    ],
    ['zero steps', () => ['--class', '1', '--steps', '0'], /--steps must be a positive integer/],
    ['negative steps', () => ['--class', '1', '--steps', '-5'], /--steps must be a positive integer/],
    [
      'NaN in the start image',
      () => ['--class', '1', '--start', join(root, 'nan.npy')],
      /start image contains a non-finite value \(NaN\) at row 1, column 2/,
    ],
    [
      'inf in the start image',
      () => ['--class', '1', '--start', join(root, 'inf.npy')],
      /non-finite value \(-Infinity\)/,
    ],
    ['no target', () => [], /give exactly one of --class/],
    ['unit on a conv layer', () => ['--layer', 'conv1', '--unit', '0'], /not a dense layer/],
  ];
  beforeAll(async () => {
    const img = new Float32Array(256).fill(0.5);
    img[18] = Number.NaN;
    await writeFile(join(root, 'nan.npy'), encodeNpy(img, [16, 16, 1]));
    img[18] = Number.NEGATIVE_INFINITY;
    await writeFile(join(root, 'inf.npy'), encodeNpy(img, [16, 16, 1]));
  });
  for (const [name, args, pattern] of cases) {
    it(name, async () => {
      const out = join(root, `bad-${name.replace(/\W+/g, '-')}`);
      const r = await runCli(['maximize', '--run', run, ...args(), '--out', out]);
      expect(r.code).not.toBe(0);
      const lines = errorLines(r.stderr);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^convlens: /);
      expect(lines[0]).toMatch(pattern);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(out)).toBe(false);
    });
  }
});
