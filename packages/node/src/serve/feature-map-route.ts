/**
 * The explorer's feature map: `convlens serve --feature-map DIR` serves an embed folder (convlens embed:
 * embedding.json and thumbnails.png, an atlas of every point's thumbnail) for the Feature map view,
 * which draws the scatter and shows a point's image on hover. Read once at start, checked in one line.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';

export interface FeatureMapData {
  layer: string;
  method: string;
  seed: number;
  model: string;
  dataset: string;
  classNames: string[];
  labels: number[];
  files: string[];
  coordinates: [number, number][];
  quality: unknown;
  /** Atlas layout (null: the map was made with --no-thumbnails). */
  thumbnails: { size: number; columns: number } | null;
}

/** Reads and checks an embed folder; one line naming the file and what is wrong. */
export async function loadFeatureMap(dir: string): Promise<FeatureMapData> {
  const path = join(dir, 'embedding.json');
  let e: any;
  try {
    e = JSON.parse(await readFile(path, 'utf8'));
  } catch (err: any) {
    throw new Error(
      `--feature-map ${dir}: ${err?.code === 'ENOENT' ? 'no embedding.json (give a folder written by convlens embed)' : `${path} is not valid JSON`}`,
    );
  }
  const n = e?.coordinates?.length;
  if (
    e?.format !== 'convlens-embedding' ||
    !Number.isInteger(n) ||
    e.labels?.length !== n ||
    e.files?.length !== n
  )
    throw new Error(
      `--feature-map ${dir}: ${path} is not a convlens embedding (coordinates, labels and files must agree)`,
    );
  if (e.thumbnails && !(await stat(join(dir, e.thumbnails.file)).catch(() => null)))
    throw new Error(`--feature-map ${dir}: ${e.thumbnails.file} is missing`);
  return {
    layer: e.features.layer,
    method: e.method,
    seed: e.seed,
    model: e.features.model?.source ?? '',
    dataset: e.features.dataset?.description ?? '',
    classNames: e.classNames,
    labels: e.labels,
    files: e.files,
    coordinates: e.coordinates,
    quality: e.quality,
    thumbnails: e.thumbnails ? { size: e.thumbnails.size, columns: e.thumbnails.columns } : null,
  };
}

/** GET /api/feature-map (the data, or 404) and GET /files/feature-map/thumbnails.png. */
export function registerFeatureMapRoutes(
  app: FastifyInstance,
  dir: string | undefined,
  data?: FeatureMapData,
) {
  const none = { error: 'no feature map is being served (start with --feature-map DIR)' };
  app.get('/api/feature-map', async (_req, reply) => (dir && data ? data : reply.code(404).send(none)));
  app.get('/files/feature-map/thumbnails.png', async (_req, reply) => {
    if (!dir || !data?.thumbnails) return reply.code(404).send(none);
    const file = join(dir, 'thumbnails.png');
    const info = await stat(file);
    return reply
      .header('content-type', 'image/png')
      .header('content-length', info.size)
      .header('cache-control', 'no-cache')
      .send(createReadStream(file));
  });
}
