/**
 * Models that contain other models as layers (Keras transfer learning: `Sequential([MobileNet(...),
 * GlobalAveragePooling2D(), Dense(5)])`, or a functional model calling a sub-model) become one flat
 * functional model whose layers are the inner layers. Everything in convlens reads `model.layers`
 * (layer choice, Grad-CAM's default layer, guided backprop's relu patches, feature maps, the inference
 * twin's folding), which lists only the top level: a nested model is one opaque layer there, and in a
 * Sequential whose first layer is a model tfjs wires the graph through the inner layers, so the nested
 * model's own `call` never runs at all.
 *
 * Each inner layer is re-created from its config and given the original's weight tensors (tfjs
 * variables share the data, no copy), so each new layer has exactly one inbound node per original
 * call. A layer (or sub-model) called several times stays one layer called several times: tied
 * weights stay tied. Names: top-level layers keep theirs; an inner layer keeps its own unless another
 * layer already has it, then it becomes `<sub-model>_<name>` (then `_2`, `_3`, …), recorded in the
 * metadata with an alias from its path (`<sub-model>/<name>`). Each sub-model's name becomes an alias of
 * the layer producing its output, so `--layer <sub-model>` still names something.
 */
import * as tf from '@tensorflow/tfjs';
import { type AnyLayer, type LayerNode, nodeOf, type Sym } from './graph-nodes.ts';
import { LAYER_ALIASES_KEY, layerAliases, modelMetadata } from './layer-aliases.ts';

/** Metadata key: flat layer name → path of the original layer, for each renamed layer. */
export const FLATTENED_KEY = 'flattenedNames';

/** A model used as a layer (Sequential or functional). */
function isContainer(l: tf.layers.Layer): l is tf.LayersModel {
  const c = l as AnyLayer;
  return Array.isArray(c.layers) && Array.isArray(c.inputs) && Array.isArray(c.outputs);
}

/** A new layer of the same class and config, named `name`, with zero-initialized (unbuilt) weights. */
function recreate(l: AnyLayer, name: string): AnyLayer {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[l.getClassName()];
  if (!entry) throw new Error(`${l.getClassName()} is not registered`);
  const { batchInputShape: _b, inputShape: _i, ...config } = l.getConfig() as Record<string, unknown>;
  // Its weights are set from the original's right after: no random initialization to pay for.
  for (const k of Object.keys(config))
    if (k.endsWith('Initializer') && config[k]) config[k] = { className: 'Zeros', config: {} };
  const [cls, fromConfig] = entry;
  return fromConfig(cls, { ...config, name } as tf.serialization.ConfigDict) as AnyLayer;
}

/** True when some layer of the model is itself a model. */
export function hasNestedModels(model: tf.LayersModel): boolean {
  return model.layers.some(isContainer);
}

/**
 * The model itself when no layer is a model; else an equivalent flat functional model with the same
 * name, metadata and weights. With `disposeOriginal` (the default) the original's layer objects are
 * released once the flat model holds its own references to the weights.
 */
export function flattenNested(model: tf.LayersModel, o: { disposeOriginal?: boolean } = {}): tf.LayersModel {
  if (!hasNestedModels(model)) return model;

  // Where each leaf layer sits: the names of the sub-models holding it (for clash names and aliases).
  const path = new Map<AnyLayer, string[]>();
  const subModels: tf.LayersModel[] = [];
  const walk = (c: tf.LayersModel, at: string[]) => {
    for (const l of c.layers as AnyLayer[]) {
      if (isContainer(l)) {
        subModels.push(l);
        walk(l, [...at, l.name]);
      } else if (!path.has(l)) path.set(l, at);
    }
  };
  walk(model, []);

  // Top-level names are reserved first, so the outer model's own layers keep theirs.
  const taken = new Set<string>();
  for (const l of model.layers) if (!isContainer(l)) taken.add(l.name);
  for (const t of model.inputs as Sym[]) taken.add(t.sourceLayer.name);
  const renamed: Record<string, string> = {};
  const aliases: Record<string, string> = {};
  const nameFor = (l: AnyLayer): string => {
    const at = path.get(l) ?? [];
    if (at.length === 0 || !taken.has(l.name)) {
      taken.add(l.name);
      return l.name;
    }
    const base = `${at[at.length - 1]}_${l.name}`;
    let name = base;
    for (let k = 2; taken.has(name); k++) name = `${base}_${k}`;
    taken.add(name);
    renamed[name] = [...at, l.name].join('/');
    aliases[renamed[name]] = name;
    return name;
  };

  // One new layer per original leaf layer, however many times it is called.
  const made = new Map<AnyLayer, AnyLayer>();
  const copies: [AnyLayer, AnyLayer][] = [];
  let shared = false;
  const twinOf = (l: AnyLayer): AnyLayer => {
    let n = made.get(l);
    if (n) return n;
    const name = nameFor(l);
    try {
      n = recreate(l, name);
      copies.push([l, n]);
    } catch {
      // A layer that cannot be re-created from its config (not registered): used as it is.
      n = l;
      shared = true;
      if (name !== l.name) {
        delete aliases[renamed[name]];
        delete renamed[name];
      }
    }
    made.set(l, n);
    return n;
  };

  const newInputs = (model.inputs as Sym[]).map((t) =>
    tf.input({ batchShape: t.shape, dtype: t.dtype, name: t.sourceLayer.name }),
  );

  /** Rebuilds the graph of `c` on `inputs`; the outputs of `c`, new. */
  const replay = (c: tf.LayersModel, inputs: tf.SymbolicTensor[]): tf.SymbolicTensor[] => {
    const tensors = new Map<number, tf.SymbolicTensor>();
    const nodes = new Map<LayerNode, tf.SymbolicTensor[]>();
    for (const [i, t] of (c.inputs as Sym[]).entries()) tensors.set(t.id, inputs[i]);
    const build = (t: Sym): tf.SymbolicTensor => {
      const done = tensors.get(t.id);
      if (done) return done;
      const node = nodeOf(t);
      let outs = nodes.get(node);
      if (!outs) {
        const ins = node.inputTensors.map(build);
        const layer = node.outboundLayer;
        if (isContainer(layer)) outs = replay(layer, ins);
        else {
          const y = twinOf(layer).apply(ins.length === 1 ? ins[0] : ins, node.callArgs ?? {});
          outs = (Array.isArray(y) ? y : [y]) as tf.SymbolicTensor[];
        }
        nodes.set(node, outs);
      }
      const out = outs[t.tensorIndex];
      tensors.set(t.id, out);
      return out;
    };
    return (c.outputs as Sym[]).map(build);
  };
  let flat: tf.LayersModel;
  try {
    flat = tf.model({ inputs: newInputs, outputs: replay(model, newInputs), name: model.name });
  } catch {
    // A graph this cannot rebuild: the model as it is (nested layers then stay opaque).
    for (const [, n] of copies) if (n.built) n.dispose();
    return model;
  }

  // The weights: the new variables take the originals' tensors (shared data, no copy).
  for (const [from, to] of copies) {
    const w = from.getWeights();
    if (w.length) to.setWeights(w);
    to.trainable = from.trainable;
  }
  // A sub-model's name names the layer producing its first output.
  for (const s of subModels) {
    const producer = (s.outputs[0] as Sym).sourceLayer;
    const n = made.get(producer);
    if (n && !taken.has(s.name) && !aliases[s.name]) aliases[s.name] = n.name;
  }

  const meta = modelMetadata(model) ?? {};
  const ownAliases = layerAliases(model);
  const next: Record<string, unknown> = { ...meta };
  if (Object.keys(aliases).length || Object.keys(ownAliases).length)
    next[LAYER_ALIASES_KEY] = { ...aliases, ...ownAliases };
  if (Object.keys(renamed).length) next[FLATTENED_KEY] = renamed;
  if (Object.keys(next).length) flat.setUserDefinedMetadata(next);
  // A layer used as it is still belongs to the original: disposing it would free live weights.
  if (!shared && o.disposeOriginal !== false) {
    model.dispose();
    // A sub-model called on a tensor holds a second reference tfjs never releases: free its weights
    // here (the flat model's variables hold their own references to the same data).
    for (const [from] of copies)
      for (const w of from.weights as (tf.LayerVariable & { val: tf.Tensor })[])
        if (!w.val.isDisposed) w.dispose();
  }
  return flat;
}
