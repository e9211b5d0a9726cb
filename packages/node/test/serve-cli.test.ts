/** `convlens serve` as a user runs it: one-line errors for bad flags, and a real start that prints its URL. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, errorLines, runCli } from './cli-helpers.ts';
import { raw, writeTinyModel } from './serve-helpers.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'convlens-serve-cli-'));
  await writeTinyModel(join(tmp, 'model'), [28, 28, 1]);
  await writeFile(join(tmp, 'net.onnx'), 'not protobuf at all\n');
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

describe('bad flags', () => {
  // MODEL: a real tiny model, so the flag itself is what is wrong.
  const cases: [string[], RegExp][] = [
    [['serve'], /--model is required/],
    [['serve', '--run', 'a', '--model', 'b'], /either --model or --run \(its alias\), not both/],
    [['serve', '--run', '/nonexistent/run'], /\/nonexistent\/run: model not found/],
    [['serve', '--model', '/nonexistent/model.json'], /nonexistent\/model\.json: model not found/],
    [['serve', '--model', 'NOT_ONNX'], /net\.onnx: not an ONNX model/],
    [['serve', '--model', 'MODEL', '--input-range', '1,0'], /--input-range must be LOW,HIGH/],
    [['serve', '--model', 'MODEL', '--preset', 'nope'], /preset/],
    [['serve', '--model', 'MODEL', '--preset', 'caffe'], /preset caffe needs an RGB model/],
    [['serve', '--model', 'MODEL', '--port', 'abc'], /--port must be an integer from 0 to 65535 .*got 'abc'/],
    [
      ['serve', '--model', 'MODEL', '--port', '99999'],
      /--port must be an integer from 0 to 65535 .*got '99999'/,
    ],
    [['serve', '--model', 'MODEL', '--port', '-1'], /--port must be an integer from 0 to 65535/],
    [
      ['serve', '--model', 'MODEL', '--shutdown-timeout', 'x'],
      /--shutdown-timeout must be a number in \[0, 600\]/,
    ],
  ];
  for (const [args, re] of cases) {
    it(args.join(' '), async () => {
      const r = await runCli(
        args.map((a) => (a === 'MODEL' ? join(tmp, 'model') : a === 'NOT_ONNX' ? join(tmp, 'net.onnx') : a)),
      );
      expect(r.code).toBe(1);
      const lines = errorLines(r.stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(re);
      expect(r.stdout).toBe('');
    });
  }
});

it('starts on 127.0.0.1, prints the URL, serves the model info (with --labels, --input-range, --resize) and stops on SIGTERM', async () => {
  const labels = join(tmp, 'labels.txt');
  await writeFile(labels, `${Array.from({ length: 10 }, (_, i) => `digit ${i}`).join('\n')}\n`);
  const child = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      '--model',
      join(tmp, 'model', 'model.json'),
      '--port',
      '0',
      '--labels',
      labels,
      '--input-range',
      '0,255',
      '--resize',
      'crop',
    ],
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
  expect(info.preprocess).toEqual({ preset: 'range', range: [0, 255], resize: 'crop' });
  expect(info.classNames[7]).toBe('digit 7');
  await expect
    .poll(() => stderr)
    .toMatch(/serving model \(input 28×28×1, range \(pixels in \[0, 255\]\), resize crop, 10 classes\)/);
  expect((await raw(port, '/')).body.toString()).toContain('convlens explorer');
  const code = await new Promise((resolve) => {
    child.on('exit', resolve);
    child.kill('SIGTERM');
  });
  expect(code).toBe(0);
});

/** `convlens serve` on a free port: the child, its port, and its stderr so far. */
async function startServe(args: string[]) {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--model', join(tmp, 'model'), '--port', '0', ...args],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  ) as ChildProcessWithoutNullStreams;
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.on('exit', (code) => resolve({ code, at: performance.now() })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  return { child, port: Number(new URL(url).port), exited, stderr: () => stderr };
}

/** An upload that sends its headers and 100 bytes of a declared 100 kB, then nothing. */
function stalledUpload(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(
        `POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(100)}`,
      );
      // Let the server read the headers and start on the body before the signal.
      setTimeout(() => resolve(s), 300);
    });
    s.on('error', reject);
  });
}

describe('stopping with a client that never finishes', () => {
  it('SIGTERM with a stalled upload exits 0 once --shutdown-timeout (1 s) has passed', async () => {
    const { child, port, exited, stderr } = await startServe(['--shutdown-timeout', '1']);
    const upload = await stalledUpload(port);
    const t0 = performance.now();
    child.kill('SIGTERM');
    const { code, at } = await exited;
    const ms = at - t0;
    upload.destroy();
    console.log(
      `serve: SIGTERM with one stalled upload → exit after ${ms.toFixed(0)} ms (--shutdown-timeout 1)`,
    );
    expect(code).toBe(0);
    expect(ms).toBeGreaterThan(950);
    // Well under the 10 s upload idle limit, which would otherwise be what ends the stall.
    expect(ms).toBeLessThan(5000);
    expect(stderr()).toMatch(/closed 1 connection\(s\) still open after 1 s/);
  });

  it('a second SIGINT exits at once (130), without waiting for the grace period', async () => {
    const { child, port, exited, stderr } = await startServe(['--shutdown-timeout', '60']);
    const upload = await stalledUpload(port);
    child.kill('SIGINT');
    await expect.poll(stderr).toMatch(/SIGINT: stopping/);
    const t0 = performance.now();
    child.kill('SIGINT');
    const { code, at } = await exited;
    upload.destroy();
    expect(code).toBe(130);
    expect(at - t0).toBeLessThan(2000);
  });
});
