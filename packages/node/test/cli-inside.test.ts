/** The inside-the-network commands end to end: activations, filters, stats (+ merge), receptive-field. */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classMeanMatrix } from '@convlens/core/stats/class-means';
import { statsFromJSON } from '@convlens/core/stats/dataset-stats';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLines, runCli, trainQuadrantRun } from './cli-helpers.ts';

let root: string;
let data: string;
let run: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'convlens-inside-'));
  ({ data, run } = await trainQuadrantRun(root));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Non-white pixels of a PNG: a figure that is not blank. */
async function inked(path: string): Promise<number> {
  const { data: px, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
  let n = 0;
  for (let i = 0; i < px.length; i += info.channels)
    if (px[i] < 200 || px[i + 1] < 200 || px[i + 2] < 200) n++;
  return n;
}

async function expectIndexed(dir: string, kinds: string[]) {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  for (const kind of kinds)
    expect(
      index.files.some((f: any) => f.kind === kind),
      kind,
    ).toBe(true);
  for (const f of index.files) {
    expect(existsSync(join(dir, f.file)), f.file).toBe(true);
    expect(await inked(join(dir, f.file)), f.file).toBeGreaterThan(100);
  }
  return index;
}

const readStats = async (dir: string) =>
  statsFromJSON(JSON.parse(await readFile(join(dir, 'partial.json'), 'utf8')));

describe('convlens activations / filters / receptive-field', () => {
  it('writes labelled feature maps and dense bars for a dataset image, and an index', async () => {
    const out = join(root, 'act');
    const r = await runCli(['activations', '--run', run, '--index', '5', '--dataset', data, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/conv1 .*Conv2D .*\[16×16×32\]/);
    expect(r.stdout).toMatch(/dense1 .*\[128\]/);
    const index = await expectIndexed(out, ['input', 'feature-maps', 'dense-activations']);
    expect(index.files.map((f: any) => f.layer).filter(Boolean)).toEqual([
      'conv1',
      'pool1',
      'conv2',
      'pool2',
      'dense1',
      'logits',
    ]);
    const conv = index.files.find((f: any) => f.layer === 'conv1');
    expect(conv.filters).toHaveLength(32);
    expect(conv.range.max).toBeGreaterThanOrEqual(conv.filters[0].range.max);
    expect(index.input.label).toBe(1); // quadrant images cycle through the classes
  });

  it('reads an image file of another size and colour, with a notice', async () => {
    const img = join(root, 'rgb.png');
    await sharp(Buffer.alloc(40 * 30 * 3, 180), { raw: { width: 40, height: 30, channels: 3 } })
      .png()
      .toFile(img);
    const out = join(root, 'act-img');
    const r = await runCli([
      'activations',
      '--run',
      run,
      '--image',
      img,
      '--layers',
      'conv2,logits',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/notice: .*rgb\.png is 40×30×3; resized\/converted to 16×16×1/);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    expect(index.files.map((f: any) => f.layer).filter(Boolean)).toEqual(['conv2', 'logits']);
  });

  it('draws every conv layer’s filters on a shared symmetric scale', async () => {
    const out = join(root, 'filters');
    const r = await runCli(['filters', '--run', run, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const index = await expectIndexed(out, ['filters']);
    expect(index.files.map((f: any) => [f.layer, f.filters, f.inChannels])).toEqual([
      ['conv1', 32, 1],
      ['conv2', 64, 32],
    ]);
    for (const f of index.files) expect(f.range.min).toBe(-f.range.max);
  });

  it('prints receptive fields (table and JSON)', async () => {
    const [t, j] = await Promise.all([
      runCli(['receptive-field', '--run', run]),
      runCli(['receptive-field', '--run', run, '--json']),
    ]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/pool2 +MaxPooling2D +4×4 +10 +4 +-3/);
    const fields = Object.fromEntries(JSON.parse(j.stdout).layers.map((f: any) => [f.layer, f]));
    expect(fields.conv2.rows).toEqual({ size: 8, jump: 2, start: -3 });
    expect(fields.dense1.global).toBe(true);
  });
});

describe('convlens stats / stats merge', () => {
  it('two shards merged equal one pass, with all figures', async () => {
    const whole = join(root, 'stats-all');
    const common = [
      'stats',
      '--run',
      run,
      '--dataset',
      data,
      '--top-k',
      '4',
      '--layers',
      'conv2,pool2,dense1',
    ];
    const [a, b, c] = await Promise.all([
      runCli([...common, '--out', whole]),
      runCli([...common, '--shard', '1/2', '--out', join(root, 's1')]),
      runCli([...common, '--shard', '2/2', '--out', join(root, 's2')]),
    ]);
    for (const r of [a, b, c]) expect(r.code, r.stderr).toBe(0);
    expect(a.stdout).toMatch(/statistics over 64 images/);
    expect(a.stderr).toMatch(/stats .*64\/64 img/);
    expect(b.stderr).toMatch(/notice: partial result, shards 2\/2 not included/);
    const merged = join(root, 'stats-merged');
    const m = await runCli([
      'stats',
      'merge',
      join(root, 's1'),
      join(root, 's2', 'partial.json'),
      '--out',
      merged,
    ]);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/statistics over 64 images \(shards 1,2\/2\)/);
    await expectIndexed(merged, ['class-means', 'class-mean-maps', 'mode-maps', 'top-k']);
    const [x, y] = [await readStats(whole), await readStats(merged)];
    expect(y.count).toBe(64);
    x.layers.forEach((l, i) => {
      const k = y.layers[i];
      expect(k.means.counts).toEqual(l.means.counts);
      const p = classMeanMatrix(l.means);
      const q = classMeanMatrix(k.means);
      for (let j = 0; j < p.length; j++) expect(Math.abs(p[j] - q[j])).toBeLessThan(1e-6);
      if (l.modes) expect(k.modes!.counts).toEqual(l.modes.counts);
      expect(k.topk.entries.map((e) => e.map((v) => [v.image, v.value]))).toEqual(
        l.topk.entries.map((e) => e.map((v) => [v.image, v.value])),
      );
    });
  });
});

describe('bad input: one line, exit ≠ 0, nothing written', () => {
  const expectError = async (args: string[], pattern: RegExp, out?: string) => {
    const r = await runCli(args);
    expect(r.code, r.stderr).not.toBe(0);
    const lines = errorLines(r.stderr);
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    if (out) expect(existsSync(out)).toBe(false);
  };

  it('unknown layer, unreadable images, out-of-range index', async () => {
    const notImage = join(root, 'notes.png');
    await writeFile(notImage, 'not an image');
    await Promise.all([
      expectError(
        [
          'activations',
          '--run',
          run,
          '--index',
          '0',
          '--dataset',
          data,
          '--layers',
          'conv9',
          '--out',
          join(root, 'x1'),
        ],
        /^convlens: unknown layer 'conv9' \(valid layers: conv1, pool1, conv2, pool2, flatten, dense1, logits, probs\)/,
        join(root, 'x1'),
      ),
      expectError(
        ['activations', '--run', run, '--image', join(root, 'missing.png'), '--out', join(root, 'x2')],
        /missing\.png: cannot read image \(file not found\)/,
        join(root, 'x2'),
      ),
      expectError(
        ['activations', '--run', run, '--image', notImage, '--out', join(root, 'x3')],
        /notes\.png: not a readable image/,
        join(root, 'x3'),
      ),
      expectError(
        ['filters', '--run', run, '--out', join(root, 'quad')],
        /--out .*quad: directory is not empty and holds no convlens index\.json/,
      ),
      expectError(
        ['activations', '--run', run, '--index', '999', '--dataset', data, '--out', join(root, 'x4')],
        /--index 999 is out of range: .* has 64 test images/,
        join(root, 'x4'),
      ),
    ]);
  });

  it('mode maps of a non-spatial layer, mismatched or duplicate partials', async () => {
    const other = join(root, 'other-layers');
    await Promise.all([
      expectError(
        ['stats', '--run', run, '--dataset', data, '--mode-layers', 'dense1', '--out', join(root, 'x5')],
        /mode maps: layer 'dense1' has no spatial output/,
        join(root, 'x5'),
      ),
      runCli([
        'stats',
        '--run',
        run,
        '--dataset',
        data,
        '--layers',
        'conv1',
        '--shard',
        '2/2',
        '--top-k',
        '4',
        '--out',
        other,
      ]).then((r) => expect(r.code, r.stderr).toBe(0)),
    ]);
    await Promise.all([
      expectError(
        ['stats', 'merge', join(root, 's1'), other, '--out', join(root, 'x6')],
        /cannot merge statistics: different layer sets/,
        join(root, 'x6'),
      ),
      expectError(
        ['stats', 'merge', join(root, 's1'), join(root, 's1'), '--out', join(root, 'x7')],
        /shard 1\/2 appears in both/,
        join(root, 'x7'),
      ),
      expectError(
        ['stats', 'merge', join(root, 's1'), join(root, 'notes.png'), '--out', join(root, 'x8')],
        /notes\.png: not valid JSON/,
        join(root, 'x8'),
      ),
      expectError(
        ['stats', '--run', run, '--shard', '3/2', '--out', join(root, 'x9')],
        /--shard must be i\/n/,
      ),
    ]);
  });
});
