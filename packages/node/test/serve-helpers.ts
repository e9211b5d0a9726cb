/** Fixtures for the explorer server tests: tiny tfjs models on disk and raw (unnormalized) HTTP requests. */

import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { buildModel } from '@convlens/core/models/build';
import { saveModel } from '../src/io/model-io.ts';

/** A small conv net with a fixed [h, w, c] input, saved as a tfjs layers model in `dir`. */
export async function writeTinyModel(dir: string, [h, w, c]: [number, number, number], classes = 10) {
  await initBackend('cpu');
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [h, w, c],
        filters: 4,
        kernelSize: 3,
        activation: 'relu',
        name: 'conv1',
      }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: classes, activation: 'softmax', name: 'probs' }),
    ],
  });
  await saveModel(model, dir);
  model.dispose();
}

/** A run directory as `convlens train` lays it out (run.json, history.json, model/), plus extras. */
export async function writeTinyRun(
  dir: string,
  opts: { snapshots?: number[]; stats?: boolean; zoo?: string } = {},
) {
  const write = async (to: string, seed: number) => {
    if (!opts.zoo) return writeTinyModel(to, [28, 28, 1]);
    await initBackend('cpu');
    const m = buildModel(opts.zoo, { inputShape: [28, 28, 1], numClasses: 10, seed });
    await saveModel(m, to);
    m.dispose();
  };
  await write(join(dir, 'model'), 1);
  await writeFile(
    join(dir, 'run.json'),
    JSON.stringify({
      version: 1,
      model: 'tiny',
      dataset: 'mnist',
      inputShape: [28, 28, 1],
      numClasses: 10,
      scaling: 'unit',
    }),
  );
  await writeFile(
    join(dir, 'history.json'),
    JSON.stringify({
      records: [
        { epoch: 1, loss: 1.5, acc: 0.5 },
        { epoch: 2, loss: 0.9, acc: 0.7 },
      ],
      epochs: 2,
    }),
  );
  for (const e of opts.snapshots ?? []) await write(join(dir, 'snapshots', `epoch-${e}`), 100 + e);
  if (opts.stats) {
    await mkdir(join(dir, 'stats'), { recursive: true });
    await writeFile(
      join(dir, 'stats', 'index.json'),
      JSON.stringify({
        files: [{ file: 'top-k-conv1.png', kind: 'top-k', layer: 'conv1', filters: [{}, {}] }],
      }),
    );
  }
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** An HTTP request whose path is sent byte for byte (no `..` folding, no re-encoding). */
export function raw(
  port: number,
  path: string,
  opts: { method?: string; body?: Buffer; headers?: Record<string, string>; agent?: any } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: opts.headers,
        agent: opts.agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body) req.write(opts.body);
    req.end();
  });
}

/**
 * A valid, all-black 1-bit grayscale PNG of any size, built directly (IHDR, one IDAT of deflated zero
 * rows, IEND): a 20000×20000 image is ~50 KB, where encoding it with sharp would take seconds.
 */
export function solidPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // grayscale; compression, filter and interlace stay 0
  // Each row: filter byte 0, then ceil(width / 8) bytes of zero pixels.
  const rows = Buffer.alloc(height * (1 + Math.ceil(width / 8)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
