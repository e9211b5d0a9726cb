/**
 * tfjs layers models served over http(s): model.json + the shards its manifest names, fetched relative to
 * the model.json URL, with the manifest's byte counts checked (a short shard is an error, not garbage weights).
 */
import { tf } from '@convlens/core/engine/backend';
import { graphAsLayersModel } from '@convlens/core/models/graph-layers';
import { modelShardUrl } from '@convlens/core/models/shard-url';

export interface FetchedModel {
  model: tf.LayersModel;
  /** userDefinedMetadata of the model.json. */
  metadata: Record<string, unknown>;
  /** metadata.json beside model.json when the server has one (e.g. class labels). */
  sideMetadata?: unknown;
}

async function get(url: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err: any) {
    throw new Error(`${url}: cannot fetch (${err.cause?.code ?? err.message})`);
  }
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
  return res;
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, float16: 2 };
const specBytes = (w: tf.io.WeightsManifestEntry) =>
  w.shape.reduce((a, b) => a * b, 1) *
  (w.quantization ? (w.quantization.dtype === 'uint8' ? 1 : 2) : (DTYPE_BYTES[w.dtype] ?? 4));

export async function fetchLayersModel(url: string): Promise<FetchedModel> {
  const jsonUrl = url.endsWith('.json') ? url : `${url.replace(/\/$/, '')}/model.json`;
  let json: tf.io.ModelJSON;
  try {
    json = (await (await get(jsonUrl)).json()) as tf.io.ModelJSON;
  } catch (err: any) {
    throw err.message.startsWith(jsonUrl) ? err : new Error(`${jsonUrl}: not valid JSON`);
  }
  if (!json?.modelTopology) throw new Error(`${jsonUrl}: not a tfjs layers model (no modelTopology)`);
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    for (const group of manifest) {
      let got = 0;
      for (const p of group.paths) {
        // Same origin, under the model.json's directory (model-paths.ts), checked before fetching.
        const shardUrl = modelShardUrl(jsonUrl, p);
        const buf = await (await get(shardUrl)).arrayBuffer();
        got += buf.byteLength;
        buffers.push(buf);
      }
      const expected = group.weights.reduce((s, w) => s + specBytes(w), 0);
      if (got !== expected)
        throw new Error(
          `${new URL(group.paths[0], jsonUrl).href}: weight shards hold ${got} bytes but the manifest needs ${expected}`,
        );
      specs.push(...group.weights);
    }
    return [specs, tf.io.CompositeArrayBuffer.join(buffers)];
  });
  const model =
    json.format === 'graph-model'
      ? graphAsLayersModel(await tf.loadGraphModel(tf.io.fromMemory(artifacts)), jsonUrl)
      : await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  const side = await fetch(new URL('metadata.json', jsonUrl).href)
    .then((r) => (r.ok ? r.json() : undefined))
    .catch(() => undefined);
  return { model, metadata: (json.userDefinedMetadata ?? {}) as Record<string, unknown>, sideMetadata: side };
}
