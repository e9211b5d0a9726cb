/**
 * The explorer's HTTP server (fastify): the app build, the tfjs wasm binaries, the model files, the
 * run's files (history, snapshots, stats figures) and an image upload endpoint. Every file route goes
 * through realFileInside, so nothing outside its root is reachable; errors are JSON {error} with a
 * 4xx status and never stop the server.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { ServeSource } from './explorer-info.ts';
import { contentType } from './mime.ts';
import { realFileInside } from './safe-path.ts';
import { topPatches } from './top-patches.ts';
import { MAX_UPLOAD_BYTES, prepareUpload, UploadError } from './upload.ts';

export const WASM_DIR = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));

export interface ServerOptions {
  source: ServeSource;
  /** Folder of the built app (index.html + assets). */
  appDir: string;
  logger?: boolean;
}

async function sendFile(reply: FastifyReply, root: string, requested: string, cache: string) {
  const file = await realFileInside(root, requested);
  const info = file ? await stat(file).catch(() => null) : null;
  if (!file || !info?.isFile()) return reply.code(404).send({ error: `not found: ${requested}` });
  return reply
    .header('content-type', contentType(file))
    .header('content-length', info.size)
    .header('cache-control', cache)
    .header('x-content-type-options', 'nosniff')
    .send(createReadStream(file));
}

export function createExplorerServer({ source, appDir, logger = false }: ServerOptions): FastifyInstance {
  const app = Fastify({ logger, bodyLimit: MAX_UPLOAD_BYTES });
  // Uploads arrive as the raw file bytes, whatever content type the client claims.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_UPLOAD_BYTES }, (_req, body, done) =>
    done(null, body),
  );

  app.setErrorHandler((err: any, _req, reply) => {
    if (err instanceof UploadError) return reply.code(err.status).send({ error: err.message });
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply
        .code(413)
        .send({ error: `upload is larger than the ${MAX_UPLOAD_BYTES / 2 ** 20} MB limit` });
    }
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    return reply.code(status).send({ error: err.message.split('\n')[0] });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `not found: ${req.url}` }));

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
