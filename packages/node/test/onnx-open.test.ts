/**
 * Opening .onnx files (openModel and `convlens import`) on small models written in the test with ONNX's
 * own schema: symbolic sizes and --input-shape, external data, the torch preset, logits, aliases, and
 * every bad input failing with one line and nothing written.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { findLayer } from '@convlens/core/models/layer-aliases';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCommand } from '../src/cli/import.ts';
import { openModel } from '../src/open/open-model.ts';
import { GW, tinyTorchNet as net, W } from './onnx-tiny-fixture.ts';

let dir: string;
async function file(name: string, bytes: Uint8Array): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, bytes);
  return p;
}

beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'convlens-onnx-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Logits of the fixture for an all-0.5 image, computed by hand: conv (zero-padded) → ReLU → mean → Gemm. */
function expectedLogits(x: number): number[] {
  const mean = [0, 1, 2, 3].map((oc) => {
    let s = 0;
    for (let i = 0; i < 8; i++)
      for (let j = 0; j < 8; j++) {
        let v = 0;
        for (let ic = 0; ic < 3; ic++)
          for (let ki = 0; ki < 3; ki++)
            for (let kj = 0; kj < 3; kj++) {
              const y = i + ki - 1;
              const xx = j + kj - 1;
              if (y >= 0 && y < 8 && xx >= 0 && xx < 8) v += x * W[((oc * 3 + ic) * 3 + ki) * 3 + kj];
            }
        s += Math.max(v, 0);
      }
    return s / 64;
  });
  return [0, 1, 2].map((k) => mean.reduce((a, m, c) => a + m * GW[k * 4 + c], [0.1, -0.2, 0.3][k]));
}

describe('openModel on .onnx', () => {
  it('opens with the torch preset, logits, module aliases and class names from --labels', async () => {
    const p = await file('tiny.onnx', net());
    await writeFile(join(dir, 'labels.txt'), 'cat\ndog\nbird\n');
    const logs: string[] = [];
    const m = await openModel(p, { labels: join(dir, 'labels.txt'), log: (s) => logs.push(s) });
    try {
      expect(m.kind).toBe('onnx');
      expect(m.inputShape).toEqual([8, 8, 3]);
      expect(m.classNames).toEqual(['cat', 'dog', 'bird']);
      expect(m.preprocess.preset).toBe('torch');
      expect(logs).toEqual([expect.stringMatching(/tiny\.onnx records no preprocessing; assuming torch/)]);
      expect(m.scores.kind).toBe('logits');
      expect(findLayer(m.model, 'features.act')?.name).toBe(findLayer(m.model, '/features/act/Relu')?.name);
      expect(findLayer(m.model, 'features')?.getClassName()).toBe('Activation');
      const y = tf.tidy(() => m.model.predict(tf.fill([1, 8, 8, 3], 0.5)) as tf.Tensor).dataSync();
      for (const [k, v] of expectedLogits(0.5).entries()) expect(y[k]).toBeCloseTo(v, 5);
    } finally {
      m.dispose();
    }
  });

  it('needs --input-shape for symbolic sizes, and takes C,H,W or H,W', async () => {
    const p = await file('dyn.onnx', net({ dims: ['batch', 3, 'height', 'width'] }));
    await expect(openModel(p)).rejects.toThrow(
      /^[^\n]*dyn\.onnx: input 'input' has a symbolic size 'height' at axis 2[^\n]*--input-shape[^\n]*$/,
    );
    for (const spec of ['3,16,12', '16x12']) {
      const m = await openModel(p, { inputShape: spec });
      expect(m.inputShape).toEqual([16, 12, 3]);
      m.dispose();
    }
    await expect(openModel(p, { inputShape: '3,0,4' })).rejects.toThrow(/^--input-shape '3,0,4': expected/);
  });

  it('reads external data beside the model and refuses missing files and paths outside its folder', async () => {
    const side = new Uint8Array(8 + W.length * 4);
    side.set(new Uint8Array(new Float32Array(W).buffer), 8);
    await writeFile(join(dir, 'tiny.weights'), side);
    const m = await openModel(await file('ext.onnx', net({ external: 'tiny.weights' })));
    const y = tf.tidy(() => m.model.predict(tf.fill([1, 8, 8, 3], 0.5)) as tf.Tensor).dataSync();
    expect(y[0]).toBeCloseTo(expectedLogits(0.5)[0], 5);
    m.dispose();
    await expect(openModel(await file('miss.onnx', net({ external: 'gone.bin' })))).rejects.toThrow(
      /miss\.onnx: external data file 'gone\.bin' is missing/,
    );
    await expect(openModel(await file('escape.onnx', net({ external: '../etc/passwd' })))).rejects.toThrow(
      /escape\.onnx: external data '\.\.\/etc\/passwd' lies outside the model's folder/,
    );
  });

  it('bad files fail with one line naming the file', async () => {
    const good = net();
    const cases: [string, Uint8Array, RegExp][] = [
      ['cut.onnx', good.subarray(0, good.length - 40), /cut\.onnx: not an ONNX model \(/],
      [
        'png.onnx',
        new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
        /png\.onnx: not an ONNX model/,
      ],
      [
        'op.onnx',
        net({ op: 'Einsum' }),
        /op\.onnx: unsupported ONNX operator 'Einsum' at node '\/features\/act\/Relu' \(node 2 of 5\)/,
      ],
      ['new.onnx', net({ opset: 21 }), /new\.onnx: ONNX opset 21 is not supported/],
    ];
    for (const [name, bytes, re] of cases) {
      const err = await openModel(await file(name, bytes)).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toContain('\n');
    }
    await expect(openModel(join(dir, 'absent.onnx'))).rejects.toThrow(/absent\.onnx: model not found/);
  });
});

describe('convlens import model.onnx', () => {
  it('writes a layers model folder that reopens with the same outputs, preset, logits and aliases', async () => {
    const p = await file('imp.onnx', net());
    const out = join(dir, 'imported');
    const s = await importCommand(p, { out, backend: 'wasm', json: true });
    expect(s).toMatchObject({ kind: 'onnx', preset: 'torch', outputs: 3 });
    const m = await openModel(out);
    try {
      expect(m.kind).toBe('imported');
      expect(m.preprocess.preset).toBe('torch');
      expect(m.scores.kind).toBe('logits');
      expect(findLayer(m.model, 'features')).toBeDefined();
      const y = tf.tidy(() => m.model.predict(tf.fill([1, 8, 8, 3], 0.5)) as tf.Tensor).dataSync();
      for (const [k, v] of expectedLogits(0.5).entries()) expect(y[k]).toBeCloseTo(v, 5);
    } finally {
      m.dispose();
    }
  });

  it('writes nothing when the model cannot be converted', async () => {
    const out = join(dir, 'never');
    await expect(
      importCommand(await file('bad.onnx', net({ op: 'Einsum' })), { out, backend: 'wasm', json: true }),
    ).rejects.toThrow(/unsupported ONNX operator 'Einsum'/);
    expect(existsSync(out)).toBe(false);
  });
});
