/** `convlens cam-head` end to end: a run in, a GAP run out that explain --method cam and evaluate read; bad input. */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLines, runCli, trainQuadrantRun } from './cli-helpers.ts';

let root: string;
let run: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'convlens-cam-head-'));
  ({ run } = await trainQuadrantRun(root, { valSplit: 0.25 }));
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('convlens cam-head', () => {
  it('writes a GAP run that explain --method cam and evaluate use', async () => {
    const out = join(root, 'gap');
    const r = await runCli([
      'cam-head',
      '--run',
      run,
      '--epochs',
      '2',
      '--fine-tune',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ run: out, layer: 'conv2', epochs: 2, fineTune: true, set: 'test', count: 64 });
    expect(s.accuracy).toBeGreaterThanOrEqual(0);
    expect(s.accuracy).toBeLessThanOrEqual(1);
    expect(s.baseAccuracy).toBeGreaterThan(0.5);
    expect(r.stderr).toMatch(/cut at conv2 \[8,8,64\] \+ GAP \+ dense 4/);
    expect(r.stderr).toMatch(/test accuracy: GAP model .*%, original .*%/);
    for (const f of ['run.json', 'history.json', 'model/model.json', 'checkpoints/last/state.json'])
      expect(existsSync(join(out, f)), f).toBe(true);
    const config = JSON.parse(await readFile(join(out, 'run.json'), 'utf8'));
    expect(config.model).toBe('cnn1+cam');
    expect(config.camHead).toMatchObject({ layer: 'conv2', freeze: false });

    const ex = join(root, 'explain');
    const e = await runCli([
      'explain',
      '--model',
      out,
      '--method',
      'cam,gradcam',
      '--index',
      '0',
      '--out',
      ex,
      '--json',
    ]);
    expect(e.code, e.stderr).toBe(0);
    const index = JSON.parse(e.stdout);
    const methods = index.inputs[0].methods;
    expect(methods.map((m: any) => m.method)).toEqual(['cam', 'gradcam']);
    expect(methods[0].layer).toBe('conv2');
    expect(existsSync(join(ex, methods[0].file))).toBe(true);

    const ev = await runCli(['evaluate', '--run', out, '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    expect(JSON.parse(ev.stdout).accuracy).toBeCloseTo(s.accuracy, 6);
  }, 120_000);

  it('fails in one line on a missing run, an unknown layer, and an existing --out', async () => {
    const missing = await runCli(['cam-head', '--run', join(root, 'nope')]);
    expect(missing.code).not.toBe(0);
    expect(errorLines(missing.stderr)).toEqual([
      expect.stringMatching(/^convlens: .*nope: model not found$/),
    ]);
    const layer = await runCli(['cam-head', '--run', run, '--layer', 'conv9', '--out', join(root, 'x')]);
    expect(layer.code).not.toBe(0);
    expect(errorLines(layer.stderr)).toEqual([
      expect.stringMatching(/^convlens: no layer 'conv9' in model .*\(spatial layers: .*conv1.*conv2/),
    ]);
    expect(existsSync(join(root, 'x'))).toBe(false);
    const same = await runCli(['cam-head', '--run', run, '--out', run]);
    expect(errorLines(same.stderr)).toEqual([
      'convlens: --out must differ from --model (the original model is kept)',
    ]);
    const taken = await runCli(['cam-head', '--run', run, '--out', join(root, 'gap')]);
    expect(errorLines(taken.stderr)).toEqual([
      expect.stringMatching(/gap already holds a run \(use --force/),
    ]);
    // A folder that is not a run is never replaced, --force or not.
    const other = join(root, 'quad');
    const foreign = await runCli(['cam-head', '--run', run, '--out', other, '--force']);
    expect(errorLines(foreign.stderr)).toEqual([
      expect.stringMatching(/quad exists and is not a run directory: refusing to replace it$/),
    ]);
    expect(existsSync(join(other, 'train-images-idx3-ubyte.gz'))).toBe(true);
    // `explain --method cam` on a model without a GAP head says what it found instead.
    const e = await runCli([
      'explain',
      '--model',
      run,
      '--method',
      'cam',
      '--index',
      '0',
      '--out',
      join(root, 'e'),
    ]);
    expect(e.code).not.toBe(0);
    expect(errorLines(e.stderr)).toEqual([
      expect.stringMatching(
        /^convlens: CAM needs a model ending in GlobalAveragePooling2D → Dense .*ends in .*Flatten/,
      ),
    ]);
  }, 120_000);
});
