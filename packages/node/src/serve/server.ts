/**
 * The explorer's HTTP server (fastify): the app build, the tfjs wasm binaries, the model files, the
 * run's files (history, snapshots, stats figures) and an image upload endpoint. Every file route goes
 * through realFileInside, so nothing outside its root is reachable; errors are JSON {error} with a
 * 4xx status and never stop the server. Every response carries the security and cross-origin isolation
 * headers, requests naming a foreign Host are refused (security.ts), and no client can hold a
 * connection or an upload open past the limits in limits.ts.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { ServeSource } from './explorer-info.ts';
import { type FeatureMapData, registerFeatureMapRoutes } from './feature-map-route.ts';
import { BodyError, DEFAULT_TIMEOUTS, readBody, type ServerTimeouts } from './limits.ts';
import { registerMethodRankingRoute } from './method-ranking-route.ts';
import { contentType } from './mime.ts';
import { realFileInside } from './safe-path.ts';
import { hostChecker, SECURITY_HEADERS } from './security.ts';
import { topPatches } from './top-patches.ts';
import { MAX_UPLOAD_BYTES, prepareUpload, UploadError } from './upload.ts';

export const WASM_DIR = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));

export interface ServerOptions {
  source: ServeSource;
  /** Folder of the built app (index.html + assets). */
  appDir: string;
  logger?: boolean;
  /** The address the server is bound to (for the Host check; default 127.0.0.1). */
  host?: string;
  /** More Host names to answer to (a reverse proxy's or the machine's name). */
  allowedHosts?: string[];
  timeouts?: Partial<ServerTimeouts>;
  /** An embed folder for the Feature map view (convlens serve --feature-map DIR). */
  featureMap?: { dir: string; data: FeatureMapData };
}

async function sendFile(reply: FastifyReply, root: string, requested: string, cache: string) {
  const file = await realFileInside(root, requested);
  const info = file ? await stat(file).catch(() => null) : null;
  if (!file || !info?.isFile()) return reply.code(404).send({ error: `not found: ${requested}` });
  return reply
    .header('content-type', contentType(file))
    .header('content-length', info.size)
    .header('cache-control', cache)
    .send(createReadStream(file));
}

export function createExplorerServer({
  source,
  appDir,
  logger = false,
  host = '127.0.0.1',
  allowedHosts = [],
  timeouts,
  featureMap,
}: ServerOptions): FastifyInstance {
  const t = { ...DEFAULT_TIMEOUTS, ...timeouts };
  const app = Fastify({
    logger,
    // Our own Node server: the limits set at creation, and the security headers on every response,
    // including those fastify writes before any hook runs (a malformed URL's 400).
    serverFactory: (handler) => {
      const server = createServer(
        {
          headersTimeout: t.headersMs,
          requestTimeout: t.requestMs,
          keepAliveTimeout: t.keepAliveMs,
          connectionsCheckingInterval: t.checkEveryMs,
        },
        (req, res) => {
          for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
          handler(req, res);
        },
      );
      server.setTimeout(t.socketIdleMs);
      return server;
    },
  });
  // Uploads arrive as the raw file bytes, whatever content type the client claims.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', async (req: any, payload: any) => {
    const declared = req.headers['content-length'];
    return readBody(payload, declared === undefined ? undefined : Number(declared), {
      limit: MAX_UPLOAD_BYTES,
      idleMs: t.uploadIdleMs,
    });
  });

  const hostAllowed = hostChecker(host, allowedHosts);
  app.addHook('onRequest', async (req, reply) => {
    if (!hostAllowed(req.headers.host, req.socket.localPort ?? 0)) {
      const name = req.headers.host === undefined ? 'no Host header' : `Host '${req.headers.host}'`;
      return reply
        .code(421)
        .header('connection', 'close')
        .send({ error: `${name} is not an address of this server (refused: DNS rebinding defence)` });
    }
  });
  app.setErrorHandler((err: any, _req, reply) => {
    if (err instanceof UploadError) return reply.code(err.status).send({ error: err.message });
    if (err instanceof BodyError) {
      // The rest of the body is never read: close the connection after answering.
      return reply.code(err.status).header('connection', 'close').send({ error: err.message });
    }
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    return reply.code(status).send({ error: err.message.split('\n')[0] });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `not found: ${req.url}` }));

  // API routes (a new one goes beside these; the file routes and the app's catch-all come last).
  app.get('/api/info', async () => source.info);

  app.post('/api/upload', async (req, reply) => {
    const body = req.body;
    if (!Buffer.isBuffer(body)) throw new UploadError(400, 'send the image file as the request body');
    const { png, original } = await prepareUpload(
      body,
      source.info.inputShape,
      source.info.preprocess.resize,
    );
    return reply
      .header('content-type', 'image/png')
      .header('x-original-size', `${original.width}x${original.height}`)
      .header('x-original-type', original.type)
      .send(png);
  });

  app.get('/api/topk', async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    const filter = Number(q.filter);
    if (!q.layer || !Number.isInteger(filter) || filter < 0) {
      return reply.code(400).send({ error: 'give ?layer=NAME&filter=N (N an integer ≥ 0)' });
    }
    if (!source.runDir || !source.dataset) {
      return reply.code(404).send({ error: 'no run directory is being served (started with --model)' });
    }
    return {
      layer: q.layer,
      filter,
      patches: await topPatches(source.runDir, source.dataset, q.layer, filter),
    };
  });

  registerFeatureMapRoutes(app, featureMap?.dir, featureMap?.data);
  registerMethodRankingRoute(app, source.runDir ?? undefined);

  app.get('/files/model/*', (req, reply) =>
    sendFile(reply, source.modelDir, (req.params as any)['*'], 'no-cache'),
  );
  app.get('/files/run/*', (req, reply) =>
    source.runDir
      ? sendFile(reply, source.runDir, (req.params as any)['*'], 'no-cache')
      : reply.code(404).send({ error: 'no run directory is being served (started with --model)' }),
  );
  app.get('/files/snapshots/*', (req, reply) =>
    source.snapshotDir
      ? sendFile(reply, source.snapshotDir, (req.params as any)['*'], 'no-cache')
      : reply.code(404).send({ error: 'this run has no per-epoch snapshots' }),
  );
  app.get('/tfjs-wasm/*', (req, reply) =>
    sendFile(reply, WASM_DIR, (req.params as any)['*'], 'public, max-age=3600'),
  );
  app.get('/', (_req, reply) => sendFile(reply, appDir, 'index.html', 'no-cache'));
  app.get('/*', (req, reply) => sendFile(reply, appDir, (req.params as any)['*'], 'public, max-age=600'));
  return app;
}
