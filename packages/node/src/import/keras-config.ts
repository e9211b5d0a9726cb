/**
 * Keras model config (JSON) → tfjs LayersModel. tfjs-layers deserializes Keras 2 configs directly; Keras 3
 * configs differ in a few fields (dtype policies as objects, `batch_shape`), normalized here first.
 */
import { tf } from '@convlens/core/engine/backend';

/** Rewrites Keras 3 config details into the Keras 2 form tfjs reads. */
export function normalizeKerasConfig(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(normalizeKerasConfig);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    if (k === 'module' || k === 'registered_name' || k === 'build_config' || k === 'compile_config') continue;
    if (k === 'dtype' && v && typeof v === 'object') {
      // Keras 3: {"class_name": "DTypePolicy", "config": {"name": "float32"}}
      out.dtype = (v as { config?: { name?: string } }).config?.name ?? 'float32';
    } else if (k === 'batch_shape') out.batch_input_shape = v;
    else out[k] = normalizeKerasConfig(v);
  }
  return out;
}

/** Every class_name a config names (layers, nested models), to name an unsupported one in errors. */
function layerClasses(node: unknown, acc = new Set<string>()): Set<string> {
  if (Array.isArray(node)) for (const n of node) layerClasses(n, acc);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (typeof o.class_name === 'string' && o.config && typeof o.config === 'object') acc.add(o.class_name);
    for (const v of Object.values(o)) layerClasses(v, acc);
  }
  return acc;
}

/** Builds the (randomly initialized) model a Keras config describes; `source` names the file in errors. */
export async function modelFromKerasConfig(config: unknown, source: string): Promise<tf.LayersModel> {
  const normalized = normalizeKerasConfig(config) as tf.io.ModelJSON['modelTopology'];
  try {
    return await tf.models.modelFromJSON({ modelTopology: normalized } as unknown as tf.io.ModelJSON);
  } catch (err: any) {
    const msg = String(err?.message ?? err);
    const unknown = /Unknown (?:layer|class(?:Name)?): *'?([A-Za-z0-9_>]+)/.exec(msg)?.[1];
    if (unknown)
      throw new Error(`${source}: unsupported layer class '${unknown}' (tfjs-layers has no such layer)`);
    const classes = [...layerClasses(config)].join(', ');
    throw new Error(
      `${source}: cannot build the model from its Keras config (${msg.split('\n')[0]}; classes: ${classes})`,
    );
  }
}
