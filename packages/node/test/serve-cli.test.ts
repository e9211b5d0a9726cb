/** `convlens serve` as a user runs it: one-line errors for bad flags, and a real start that prints its URL. */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, errorLines, runCli } from './cli-helpers.ts';
import { raw, writeTinyModel } from './serve-helpers.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'convlens-serve-cli-'));
  await writeTinyModel(join(tmp, 'model'), [28, 28, 1]);
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

describe('bad flags', () => {
  const cases: [string[], RegExp][] = [
    [['serve'], /give --run RUN_DIR or --model MODEL_JSON/],
    [['serve', '--run', 'a', '--model', 'b'], /either --run or --model, not both/],
    [['serve', '--run', '/nonexistent/run'], /--run \/nonexistent\/run: not a directory/],
    [['serve', '--model', '/nonexistent/model.json'], /nonexistent\/model\.json: cannot read model/],
    [['serve', '--model', 'x.json', '--input-range', '1,0'], /--input-range must be LOW,HIGH/],
    [['serve', '--model', 'x.json', '--port', 'abc'], /--port/],
  ];
  for (const [args, re] of cases) {
    it(args.join(' '), async () => {
      const r = await runCli(args);
      expect(r.code).toBe(1);
      const lines = errorLines(r.stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(re);
      expect(r.stdout).toBe('');
    });
  }
});

it('starts on 127.0.0.1, prints the URL, serves the model info and stops on SIGTERM', async () => {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--model', join(tmp, 'model', 'model.json'), '--port', '0'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  const port = Number(new URL(url).port);
  const info = JSON.parse((await raw(port, '/api/info')).body.toString());
  expect(info.inputShape).toEqual([28, 28, 1]);
  expect((await raw(port, '/')).body.toString()).toContain('convlens explorer');
  const code = await new Promise((resolve) => {
    child.on('exit', resolve);
    child.kill('SIGTERM');
  });
  expect(code).toBe(0);
});
