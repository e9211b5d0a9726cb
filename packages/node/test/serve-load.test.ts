/**
 * A bounded loopback load test of the explorer server: 2,000 requests, 50 in flight, over the routes a
 * page load uses (info, model JSON and weights, app shell, wasm binary) plus refused traversals.
 * Asserts zero errors and every status as expected; latency percentiles are printed, not asserted.
 */

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openServeSource } from '../src/serve/explorer-info.ts';
import { createExplorerServer } from '../src/serve/server.ts';
import { raw, writeTinyModel } from './serve-helpers.ts';

let tmp: string;
let app: FastifyInstance;
let port: number;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'convlens-load-'));
  await mkdir(join(tmp, 'app'));
  await writeFile(join(tmp, 'app', 'index.html'), '<!doctype html><title>app</title>');
  await writeTinyModel(join(tmp, 'model'), [28, 28, 1]);
  app = createExplorerServer({
    source: await openServeSource(join(tmp, 'model', 'model.json')),
    appDir: join(tmp, 'app'),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as any).port;
});

afterAll(async () => {
  await app?.close();
  await rm(tmp, { recursive: true, force: true });
});

const ROUTES: [string, number][] = [
  ['/api/info', 200],
  ['/files/model/model.json', 200],
  ['/files/model/weights.bin', 200],
  ['/', 200],
  ['/tfjs-wasm/tfjs-backend-wasm-simd.wasm', 200],
  ['/files/model/%2e%2e%2f%2e%2e%2fetc%2fpasswd', 404],
];

it('answers 2,000 requests at 50 concurrent with zero errors', async () => {
  const TOTAL = 2000;
  const CONCURRENCY = 50;
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies: number[] = [];
  const errors: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < TOTAL) {
      const i = next++;
      const [path, want] = ROUTES[i % ROUTES.length];
      const t0 = performance.now();
      try {
        const r = await raw(port, path, { agent });
        if (r.status !== want) errors.push(`${path}: HTTP ${r.status}, expected ${want}`);
      } catch (err) {
        errors.push(`${path}: ${(err as Error).message}`);
      }
      latencies.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  console.log(
    `load: ${TOTAL} requests, ${CONCURRENCY} concurrent, ${(TOTAL / seconds).toFixed(0)} req/s, ` +
      `p50 ${q(0.5).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`,
  );
  expect(errors.slice(0, 5)).toEqual([]);
  expect(latencies).toHaveLength(TOTAL);
  // Still serving afterwards.
  expect((await raw(port, '/api/info')).status).toBe(200);
});
