// `convlens faithfulness` end to end on a quickly trained quadrant run: the table covers every method
// asked for with the controls, AUCs are probabilities' areas, integrated gradients beats the random map,
// the report files are written, shards merge to the one-pass table, and bad input fails with one line.
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
      '--metrics',
      'sparseness',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.count).toBe(24);
    expect(new Set(report.indices).size).toBe(24);
    const rows = report.rows.filter((x: any) => !x.control);
    expect(rows.map((x: any) => x.method).sort()).toEqual([...methods].sort());
    expect(report.controls).toContain('random');
    for (const row of rows) {
      expect(row.error).toBeUndefined();
      for (const v of [row.deletionAuc, row.insertionAuc, row.road.morfAuc, row.road.lerfAuc]) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
      expect(Math.abs(row.sanity.correlation)).toBeLessThanOrEqual(1);
      expect(row.msPerImage).toBeGreaterThan(0);
    }
    // Sorted by faithfulness family score, best first.
    const scores = report.rows.map((x: any) => x.familyScores.faithfulness);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    const ig = report.rows.find((x: any) => x.method === 'ig');
    const random = report.rows.find((x: any) => x.key === 'random');
    expect(ig.deletionAuc).toBeLessThan(random.deletionAuc);
    expect(ig.insertionAuc).toBeGreaterThan(random.insertionAuc);
    expect(report.choice.reason).toMatch(/faithfulness score/);
    expect(JSON.parse(await readFile(join(out, 'faithfulness.json'), 'utf8')).rows).toHaveLength(
      report.rows.length,
    );
    const md = await readFile(join(out, 'faithfulness.md'), 'utf8');
    expect(md).toMatch(/\| method \| faithfulness: deletion AUC ↓ \| faithfulness: insertion AUC ↑/);
    expect(md).toMatch(/random \(control\)/);
    expect(md).toMatch(/Auto choice/);
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
    expect(r.stdout).toMatch(/^\s+faithfulness/);
    expect(r.stdout).toMatch(/\nmethod\s+deletion AUC ↓\s+insertion AUC ↑/);
    for (const id of ['gradcam', 'saliency', 'ig', 'occlusion']) expect(r.stdout).toContain(id);
    expect(r.stdout).toContain('random (control)');
  });

  it('writes shard partials that faithfulness merge turns into the one-pass table', async () => {
    const args = [
      ...base(),
      '--method',
      'saliency',
      '--count',
      '8',
      '--chunk',
      '4',
      '--steps',
      '4',
      '--metrics',
      'sparseness',
    ];
    for (const s of ['1/2', '2/2']) {
      const r = await runCli([...args, '--shard', s, '--out', join(root, `shard${s[0]}`)]);
      expect(r.code, r.stderr).toBe(0);
    }
    const m = await runCli([
      'faithfulness',
      'merge',
      join(root, 'shard2'),
      join(root, 'shard1'),
      '--out',
      join(root, 'merged'),
      '--json',
    ]);
    expect(m.code, m.stderr).toBe(0);
    const one = await runCli([...args, '--json']);
    const strip = (r: any) => r.rows.map((x: any) => [x.key, x.means]);
    expect(strip(JSON.parse(m.stdout))).toEqual(strip(JSON.parse(one.stdout)));
    const bad = await runCli(['faithfulness', 'merge', join(root, 'shard1'), '--out', join(root, 'merged2')]);
    expect(errorLines(bad.stderr)[0]).toMatch(/shards missing/);
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
