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
    if (
      k === 'module' ||
      k === 'registered_name' ||
      k === 'build_config' ||
      k === 'compile_config' ||
      k === 'shared_object_id'
    )
      continue;
    if (k === 'inbound_nodes' && Array.isArray(v)) out.inbound_nodes = v.map(inboundNode);
    else if ((k === 'input_layers' || k === 'output_layers') && Array.isArray(v))
      // Keras 3 writes a single input/output as one flat [name, node, tensor] triple.
      out[k] = typeof v[0] === 'string' ? [v] : v;
    else if (k === 'dtype' && v && typeof v === 'object') {
      // Keras 3: {"class_name": "DTypePolicy", "config": {"name": "float32"}}
      out.dtype = (v as { config?: { name?: string } }).config?.name ?? 'float32';
    } else if (k === 'batch_shape') out.batch_input_shape = v;
    else out[k] = normalizeKerasConfig(v);
  }
  return out;
}

/**
 * A functional layer's call: Keras 3 writes `{args: [...], kwargs}` with the input tensors as
 * `__keras_tensor__` objects carrying `keras_history: [layer, node, tensor]`; Keras 2 (and tfjs)
 * want `[[layer, node, tensor, kwargs], ...]`. Tensors are collected from args in order, however
 * nested (Add and Concatenate take one list argument).
 */
function inboundNode(node: unknown): unknown {
  if (Array.isArray(node) || !node || typeof node !== 'object') return node;
  const tensors: unknown[][] = [];
  const collect = (a: unknown) => {
    if (Array.isArray(a)) for (const x of a) collect(x);
    else if (a && typeof a === 'object') {
      const o = a as { class_name?: string; config?: { keras_history?: unknown[] } };
      if (o.class_name === '__keras_tensor__' && Array.isArray(o.config?.keras_history))
        tensors.push([...o.config.keras_history.slice(0, 3), {}]);
    }
  };
  collect((node as { args?: unknown }).args);
  return tensors;
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

/** Keras's to_snake_case: 'GlobalAveragePooling2D' → 'global_average_pooling2d'. */
function snake(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/**
 * Where Keras 3 stores each layer's variables in model.weights.h5: not under the layer's name but
 * under its class in snake case, numbered in layer order (`conv2d`, `conv2d_1`, …). The order is
 * the config's; a Sequential model's InputLayer is not one of its layers, a functional model's is.
 */
export function keras3WeightGroups(config: unknown): Map<string, string> {
  const top = config as {
    class_name?: string;
    config?: { layers?: { class_name: string; config?: { name?: string }; name?: string }[] };
  };
  const sequential = top.class_name === 'Sequential';
  const used = new Map<string, number>();
  const groups = new Map<string, string>();
  for (const l of top.config?.layers ?? []) {
    if (sequential && l.class_name === 'InputLayer') continue;
    const base = snake(l.class_name);
    const n = used.get(base);
    used.set(base, n === undefined ? 0 : n + 1);
    const name = l.config?.name ?? l.name;
    if (name) groups.set(name, n === undefined ? base : `${base}_${n + 1}`);
  }
  return groups;
}
