/**
 * The explorer server cannot be held open: real sockets on 127.0.0.1 against createExplorerServer with
 * short limits (the same mechanism as the defaults, scaled down so the test takes seconds): headers
 * sent slowly, an upload that stalls, an upload that trickles, an idle keep-alive connection, and a
 * bounded graceful close with a stalled upload. Plus the Host check (DNS rebinding) and the security
 * and cross-origin isolation headers on every route.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openServeSource, type ServeSource } from '../src/serve/explorer-info.ts';
import { DEFAULT_TIMEOUTS, type ServerTimeouts } from '../src/serve/limits.ts';
import { hostChecker, SECURITY_HEADERS } from '../src/serve/security.ts';
import { createExplorerServer } from '../src/serve/server.ts';
import { closeGracefully } from '../src/serve/shutdown.ts';
import { raw, solidPng, writeTinyModel } from './serve-helpers.ts';

let tmp: string;
let appDir: string;
let source: ServeSource;
const apps: FastifyInstance[] = [];

/** Limits in the tests: a second where the defaults have ten. */
const SHORT: ServerTimeouts = {
  headersMs: 1000,
  requestMs: 2500,
  uploadIdleMs: 1000,
  keepAliveMs: 500,
  socketIdleMs: 5000,
  checkEveryMs: 100,
};

async function start(
  timeouts: Partial<ServerTimeouts> = SHORT,
  host = '127.0.0.1',
): Promise<FastifyInstance> {
  const app = createExplorerServer({ source, appDir, timeouts, host, allowedHosts: ['convlens.test'] });
  await app.listen({ port: 0, host: '127.0.0.1' });
  apps.push(app);
  return app;
}
const portOf = (app: FastifyInstance) => (app.server.address() as any).port as number;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'convlens-serve-limits-'));
  appDir = join(tmp, 'app');
  await mkdir(join(appDir, 'assets'), { recursive: true });
  await writeFile(join(appDir, 'index.html'), '<!doctype html><title>app</title>');
  await writeFile(join(appDir, 'assets', 'app.js'), 'console.log(1);\n');
  await writeTinyModel(join(tmp, 'model'), [16, 16, 3], 3);
  source = await openServeSource(join(tmp, 'model', 'model.json'));
});

afterAll(async () => {
  for (const app of apps) await app.close();
  await rm(tmp, { recursive: true, force: true });
});

interface Conn {
  socket: Socket;
  /** Everything the server sent until it closed the connection, and when it closed (ms after open). */
  closed: Promise<{ text: string; ms: number }>;
}

/** A raw TCP connection that records what the server sends and when it hangs up. */
function open(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const closed = new Promise<{ text: string; ms: number }>((done) => {
      socket.on('data', (d) => {
        text += d.toString('latin1');
      });
      socket.on('close', () => done({ text, ms: performance.now() - t0 }));
      socket.on('error', () => {});
    });
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

/** Writes `data` one byte every `everyMs` until the socket closes or the bytes run out. */
async function trickle(socket: Socket, data: string, everyMs: number) {
  for (const ch of data) {
    if (socket.destroyed || !socket.writable) return;
    socket.write(ch);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);

describe('timeouts', () => {
  it('applies the default limits to the Node server (headers 10 s, request 60 s, keep-alive 5 s, socket 30 s)', async () => {
    const app = await start({});
    expect(app.server.headersTimeout).toBe(DEFAULT_TIMEOUTS.headersMs);
    expect(app.server.requestTimeout).toBe(DEFAULT_TIMEOUTS.requestMs);
    expect(app.server.keepAliveTimeout).toBe(DEFAULT_TIMEOUTS.keepAliveMs);
    expect(app.server.timeout).toBe(DEFAULT_TIMEOUTS.socketIdleMs);
    expect([10_000, 60_000, 5_000, 30_000]).toEqual([
      DEFAULT_TIMEOUTS.headersMs,
      DEFAULT_TIMEOUTS.requestMs,
      DEFAULT_TIMEOUTS.keepAliveMs,
      DEFAULT_TIMEOUTS.socketIdleMs,
    ]);
  });

  it('cuts a client that sends its headers slowly at the header limit (408)', async () => {
    const app = await start();
    const c = await open(portOf(app));
    const headers = `GET /api/info HTTP/1.1\r\nHost: 127.0.0.1:${portOf(app)}\r\nX-Slow: ${'a'.repeat(60)}\r\n\r\n`;
    void trickle(c.socket, headers, 50); // ~4 s for all of it: never finishes within 1 s
    const { text, ms } = await c.closed;
    expect(statusOf(text)).toBe(408);
    expect(ms).toBeGreaterThan(SHORT.headersMs - 50);
    expect(ms).toBeLessThan(SHORT.headersMs + 1000);
  });

  it('answers 408 to an upload that stalls, after the idle limit, and closes the connection', async () => {
    const app = await start();
    const c = await open(portOf(app));
    c.socket.write(
      `POST /api/upload HTTP/1.1\r\nHost: localhost:${portOf(app)}\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n`,
    );
    c.socket.write(Buffer.alloc(5000, 1)); // then nothing more
    const { text, ms } = await c.closed;
    expect(statusOf(text)).toBe(408);
    expect(text).toContain('"error":"upload stalled: no data for 1 s"');
    expect(text.toLowerCase()).toContain('connection: close');
    expect(ms).toBeGreaterThan(SHORT.uploadIdleMs - 50);
    expect(ms).toBeLessThan(SHORT.uploadIdleMs + 1000);
  });

  it('cuts an upload that trickles (never idle long enough) at the request limit', async () => {
    const app = await start();
    const c = await open(portOf(app));
    c.socket.write(
      `POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1:${portOf(app)}\r\nContent-Length: 100000\r\n\r\n`,
    );
    void trickle(c.socket, 'x'.repeat(1000), 200); // a byte every 0.2 s: under the 1 s idle limit
    const { ms } = await c.closed;
    expect(ms).toBeGreaterThan(SHORT.requestMs - 50);
    expect(ms).toBeLessThan(SHORT.requestMs + 1000);
  });

  it('closes an idle keep-alive connection after the keep-alive limit', async () => {
    const app = await start();
    const c = await open(portOf(app));
    c.socket.write(`GET /api/info HTTP/1.1\r\nHost: 127.0.0.1:${portOf(app)}\r\n\r\n`);
    const { text, ms } = await c.closed;
    expect(statusOf(text)).toBe(200);
    // Node closes 1 s after the timeout it announces, so a client never reuses a closing connection.
    expect(ms).toBeGreaterThan(SHORT.keepAliveMs - 50);
    expect(ms).toBeLessThan(SHORT.keepAliveMs + 1000 + 800);
  });
});

describe('graceful close', () => {
  it('lets a request in flight finish, then ends a stalled upload at the grace limit', async () => {
    // Idle and request limits far away: only the shutdown bound can end the stalled upload.
    const app = await start({ ...SHORT, uploadIdleMs: 60_000, requestMs: 60_000, headersMs: 60_000 });
    const port = portOf(app);
    const stalled = await open(port);
    stalled.socket.write(
      `POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(100)}`,
    );
    // A second upload that completes 300 ms into the close: it gets its answer.
    const png = solidPng(64, 48);
    const finishing = await open(port);
    finishing.socket.write(
      `POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: ${png.length}\r\n\r\n`,
    );
    finishing.socket.write(png.subarray(0, 10));
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    const closing = closeGracefully(app, 1500);
    setTimeout(() => finishing.socket.write(png.subarray(10)), 300);
    const done = await closing;
    const ms = performance.now() - t0;
    expect(done.forced).toBe(1);
    expect(ms).toBeGreaterThan(1450);
    expect(ms).toBeLessThan(2500);
    expect(statusOf((await finishing.closed).text)).toBe(200);
    expect((await stalled.closed).text).toBe('');
    // Nothing listens any more.
    await expect(raw(port, '/api/info')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('returns at once when nothing is in flight', async () => {
    const app = await start();
    await raw(portOf(app), '/api/info');
    const { forced, ms } = await closeGracefully(app, 5000);
    expect(forced).toBe(0);
    expect(ms).toBeLessThan(500);
  });
});

describe('Host header (DNS rebinding defence)', () => {
  let app: FastifyInstance;
  let port: number;
  beforeAll(async () => {
    app = await start();
    port = portOf(app);
  });
  const get = (host: string | undefined, path = '/api/info') =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      let text = '';
      s.on('data', (d) => {
        text += d;
      });
      s.on('end', () => resolve({ status: statusOf(text), body: text.split('\r\n\r\n')[1] ?? '' }));
      s.on('error', reject);
      // HTTP/1.0 so that a request without Host is legal HTTP and reaches the check.
      s.write(`GET ${path} HTTP/1.0\r\n${host === undefined ? '' : `Host: ${host}\r\n`}\r\n`);
    });

  it('answers the loopback names, the bound address and allowed names, with the port', async () => {
    for (const h of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
      expect((await get(h)).status, h).toBe(200);
    }
    expect((await get(`convlens.test:${port}`)).status).toBe(200);
  });

  it('refuses other names, other ports and a missing Host with 421 and a one-line reason', async () => {
    for (const h of [
      `evil.example:${port}`,
      'evil.example',
      `127.0.0.1.nip.io:${port}`,
      `localhost.evil.example:${port}`,
      `127.0.0.1:${port + 1}`,
      `127.0.0.1`,
      `192.168.1.20:${port}`,
      undefined,
    ]) {
      const r = await get(h, '/files/model/model.json');
      expect(r.status, String(h)).toBe(421);
      expect(r.body.split('\n')).toHaveLength(1);
      expect(JSON.parse(r.body).error).toMatch(
        /^(Host '.*'|no Host header) is not an address of this server \(refused: DNS rebinding defence\)$/,
      );
      expect(r.body).not.toContain('modelTopology');
    }
  });

  it('bound to all interfaces: IP literals of the machine pass, names still need --allow-host', () => {
    const any = hostChecker('0.0.0.0');
    expect(any('192.168.1.20:8080', 8080)).toBe(true);
    expect(any('[fe80::1]:8080', 8080)).toBe(true);
    expect(any('evil.example:8080', 8080)).toBe(false);
    expect(any('192.168.1.20:8081', 8080)).toBe(false);
    const v6 = hostChecker('::1');
    expect(v6('[::1]:80', 80)).toBe(true);
    expect(v6('[::1]', 80)).toBe(true);
    expect(v6('[::2]', 80)).toBe(false);
    expect(hostChecker('10.0.0.5')('10.0.0.5:3000', 3000)).toBe(true);
    expect(hostChecker('10.0.0.5')('10.0.0.6:3000', 3000)).toBe(false);
  });
});

describe('security headers', () => {
  it('sends CSP, framing, nosniff, referrer and cross-origin isolation headers on every route', async () => {
    const app = await start();
    const port = portOf(app);
    const routes: [string, number, { method?: string; body?: Buffer; headers?: Record<string, string> }?][] =
      [
        ['/', 200],
        ['/assets/app.js', 200],
        ['/api/info', 200],
        ['/files/model/model.json', 200],
        ['/files/model/weights.bin', 200],
        ['/tfjs-wasm/tfjs-backend-wasm-threaded-simd.wasm', 200],
        ['/files/model/nope.json', 404],
        ['/files/run/run.json', 404],
        ['/api/topk', 400],
        ['/%E0%A4%A', 400],
        ['/api/upload', 415, { method: 'POST', body: Buffer.from('not an image') }],
        ['/api/upload', 200, { method: 'POST', body: solidPng(40, 30) }],
        ['/api/info', 421, { headers: { host: 'evil.example' } }],
      ];
    for (const [path, status, opts] of routes) {
      const r = await raw(port, path, opts);
      expect(r.status, path).toBe(status);
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
        expect(r.headers[name], `${path} ${name}`).toBe(value);
      }
    }
    expect(SECURITY_HEADERS['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(SECURITY_HEADERS['x-frame-options']).toBe('DENY');
  });
});
