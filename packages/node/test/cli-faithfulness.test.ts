// `convlens faithfulness` end to end on a quickly trained quadrant run: the table covers every method
// asked for, AUCs are probabilities' areas, integrated gradients beats the random order, the report
// files are written, and bad input fails with one line.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLines, runCli, trainQuadrantRun } from './cli-helpers.ts';

let root: string;
let data: string;
let run: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'convlens-faith-'));
  ({ data, run } = await trainQuadrantRun(root, { train: 384, test: 96, epochs: 2 }));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const base = () => ['faithfulness', '--model', run, '--dataset', data];

describe('convlens faithfulness', () => {
  it('scores the methods asked for, beats random with IG, writes JSON and Markdown', async () => {
    const out = join(root, 'out');
    const methods = ['ig', 'saliency', 'gradcam'];
    const r = await runCli([
      ...base(),
      '--method',
      methods.join(','),
      '--count',
      '24',
      '--steps',
      '10',
      '--road',
      '--randomization',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.count).toBe(24);
    expect(new Set(report.indices).size).toBe(24);
    expect(report.rows.map((x: any) => x.method).sort()).toEqual([...methods].sort());
    for (const row of report.rows) {
      expect(row.error).toBeUndefined();
      for (const v of [row.deletionAuc, row.insertionAuc, row.road.morfAuc, row.road.lerfAuc]) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
      expect(row.sanity.steps.length).toBeGreaterThan(0);
    }
    // Sorted by insertion − deletion, best first.
    const scores = report.rows.map((x: any) => x.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    const ig = report.rows.find((x: any) => x.method === 'ig');
    expect(ig.deletionAuc).toBeLessThan(report.random.deletionAuc);
    expect(ig.insertionAuc).toBeGreaterThan(report.random.insertionAuc);
    expect(JSON.parse(await readFile(join(out, 'faithfulness.json'), 'utf8')).rows).toHaveLength(3);
    const md = await readFile(join(out, 'faithfulness.md'), 'utf8');
    expect(md).toMatch(/\| method \| deletion AUC ↓ \| insertion AUC ↑/);
    expect(md).toMatch(/random order \(baseline\)/);
    expect((await readdir(out)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    // Same seed, same inputs.
    const again = await runCli([
      ...base(),
      '--method',
      'saliency',
      '--count',
      '24',
      '--steps',
      '10',
      '--json',
    ]);
    expect(JSON.parse(again.stdout).indices).toEqual(report.indices);
  });

  it('prints a table with every registered method for --method all', async () => {
    const r = await runCli([...base(), '--count', '2', '--steps', '4']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^method\s+deletion AUC ↓\s+insertion AUC ↑/);
    for (const id of ['gradcam', 'saliency', 'ig', 'occlusion']) expect(r.stdout).toContain(id);
    expect(r.stdout).toContain('random order (baseline)');
  });

  it('fails with one line on bad input', async () => {
    const cases: [string[], RegExp][] = [
      [[...base(), '--method', 'nope'], /unknown method 'nope'/],
      [[...base(), '--count', '0'], /--count must be a positive integer/],
      [[...base(), '--count', '-3'], /--count/],
      [['faithfulness', '--model', join(root, 'missing')], /missing/],
      [['faithfulness', '--model', join(root, 'x.json')], /needs --dataset|x\.json/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      const errs = errorLines(r.stderr);
      expect(errs, r.stderr).toHaveLength(1);
      expect(errs[0]).toMatch(re);
    }
    expect(existsSync(join(root, 'missing'))).toBe(false);
  });
});
