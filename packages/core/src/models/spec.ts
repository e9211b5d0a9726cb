/**
 * Declarative, JSON-serializable model specs. A spec lists the network's body; the builder always
 * appends the classification head `logits` (Dense, linear) + `probs` (softmax Activation), so every
 * convlens model exposes pre-softmax scores by name (see build.ts).
 */

/** Activations a spec may name (a subset of tfjs-layers' identifiers). */
export const ACTIVATIONS = [
  'linear',
  'relu',
  'relu6',
  'elu',
  'selu',
  'sigmoid',
  'hardSigmoid',
  'tanh',
  'softplus',
  'softsign',
  'swish',
  'softmax',
] as const;
export type ActivationName = (typeof ACTIVATIONS)[number];

/** A size given as one number (square) or [height, width]. */
export type Size2 = number | [number, number];

export type Padding = 'valid' | 'same';

interface Named {
  /** Overrides the generated layer name (conv1, pool1, ...). Must be unique; `logits`, `probs` and `input` are reserved. */
  name?: string;
}

export interface Conv2dSpec extends Named {
  type: 'conv2d';
  filters: number;
  kernel: Size2;
  /** Default 1. */
  strides?: Size2;
  /** Default 'valid' (as Keras). */
  padding?: Padding;
  /** Default 'linear' (as Keras). */
  activation?: ActivationName;
  /** Default 1; tfjs supports dilation > 1 only with strides 1. */
  dilation?: Size2;
  /** Default true; a conv followed by batch norm can drop its bias. */
  useBias?: boolean;
}

export interface PoolSpec extends Named {
  type: 'maxpool' | 'avgpool';
  /** Default 2. */
  pool?: Size2;
  /** Default: the pool size (as Keras). */
  strides?: Size2;
  /** Default 'valid'. */
  padding?: Padding;
}

export interface DropoutSpec extends Named {
  type: 'dropout';
  /** Fraction of units dropped during training, in [0, 1). */
  rate: number;
}

export interface FlattenSpec extends Named {
  type: 'flatten';
}

export interface DenseSpec extends Named {
  type: 'dense';
  units: number;
  /** Default 'linear' (as Keras). */
  activation?: ActivationName;
}

export interface BatchNormSpec extends Named {
  type: 'batchnorm';
  /** Moving-average momentum, default 0.99 (Keras). */
  momentum?: number;
  /** Default 1e-3 (Keras). */
  epsilon?: number;
}

/** Global average pooling: H×W×C → C (the CAM head's pooling). */
export interface GapSpec extends Named {
  type: 'gap';
}

export interface ActivationSpec extends Named {
  type: 'activation';
  activation: ActivationName;
}

export type LayerSpec =
  | Conv2dSpec
  | PoolSpec
  | DropoutSpec
  | FlattenSpec
  | DenseSpec
  | BatchNormSpec
  | GapSpec
  | ActivationSpec;

export type LayerType = LayerSpec['type'];

export interface ModelSpec {
  /** Short identifier, e.g. 'pw11'; becomes the tfjs model name. */
  name: string;
  description?: string;
  /** The body; the `logits` + `probs` head is appended by the builder. */
  layers: LayerSpec[];
}

/** Names the builder reserves for the head and the input. */
export const RESERVED_NAMES = ['input', 'logits', 'probs'] as const;

const LAYER_TYPES: readonly LayerType[] = [
  'conv2d',
  'maxpool',
  'avgpool',
  'dropout',
  'flatten',
  'dense',
  'batchnorm',
  'gap',
  'activation',
];

/** Reads one side of a Size2 as [height, width]. */
export function size2(v: Size2): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/**
 * Checks a spec that may come from JSON (a file, the browser) and returns it typed. Throws an Error
 * naming the first problem, e.g. "layer 3 (dense): units must be a positive integer".
 */
export function validateSpec(value: unknown): ModelSpec {
  if (!isObject(value)) throw new Error('model spec must be an object with name and layers');
  if (typeof value.name !== 'string' || value.name === '')
    throw new Error('model spec needs a non-empty name');
  if (!Array.isArray(value.layers)) throw new Error(`model spec '${value.name}': layers must be an array`);
  const names = new Set<string>();
  value.layers.forEach((layer: unknown, i: number) => {
    const where = `model spec '${value.name}', layer ${i + 1}`;
    if (!isObject(layer) || typeof layer.type !== 'string') throw new Error(`${where}: missing type`);
    if (!LAYER_TYPES.includes(layer.type as LayerType)) {
      throw new Error(`${where}: unknown type '${layer.type}' (expected one of: ${LAYER_TYPES.join(', ')})`);
    }
    validateLayer(layer, `${where} (${layer.type})`);
    if (layer.name !== undefined) {
      if (typeof layer.name !== 'string' || layer.name === '')
        throw new Error(`${where}: name must be a string`);
      if ((RESERVED_NAMES as readonly string[]).includes(layer.name)) {
        throw new Error(`${where}: name '${layer.name}' is reserved`);
      }
      if (names.has(layer.name)) throw new Error(`${where}: duplicate name '${layer.name}'`);
      names.add(layer.name);
    }
  });
  return value as unknown as ModelSpec;
}

function validateLayer(l: Record<string, unknown>, where: string): void {
  const act = (key: string, required: boolean) => {
    if (l[key] === undefined && !required) return;
    if (!ACTIVATIONS.includes(l[key] as ActivationName)) {
      throw new Error(`${where}: ${key} must be one of: ${ACTIVATIONS.join(', ')}`);
    }
  };
  const pad = () => {
    if (l.padding !== undefined && l.padding !== 'valid' && l.padding !== 'same') {
      throw new Error(`${where}: padding must be 'valid' or 'same'`);
    }
  };
  switch (l.type) {
    case 'conv2d':
      posInt(l, 'filters', where, true);
      posSize(l, 'kernel', where, true);
      posSize(l, 'strides', where, false);
      posSize(l, 'dilation', where, false);
      pad();
      act('activation', false);
      if (l.useBias !== undefined && typeof l.useBias !== 'boolean') {
        throw new Error(`${where}: useBias must be a boolean`);
      }
      if (l.dilation !== undefined && l.strides !== undefined) {
        const d = size2(l.dilation as Size2);
        const s = size2(l.strides as Size2);
        if ((d[0] > 1 || d[1] > 1) && (s[0] > 1 || s[1] > 1)) {
          throw new Error(`${where}: dilation > 1 requires strides 1`);
        }
      }
      return;
    case 'maxpool':
    case 'avgpool':
      posSize(l, 'pool', where, false);
      posSize(l, 'strides', where, false);
      pad();
      return;
    case 'dropout':
      if (typeof l.rate !== 'number' || !(l.rate >= 0 && l.rate < 1)) {
        throw new Error(`${where}: rate must be a number in [0, 1)`);
      }
      return;
    case 'dense':
      posInt(l, 'units', where, true);
      act('activation', false);
      return;
    case 'batchnorm':
      for (const key of ['momentum', 'epsilon']) {
        const v = l[key];
        if (v !== undefined && (typeof v !== 'number' || !(v > 0 && v < 1))) {
          throw new Error(`${where}: ${key} must be a number in (0, 1)`);
        }
      }
      return;
    case 'activation':
      act('activation', true);
      return;
    default:
      return; // flatten, gap: nothing to check
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPosInt(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

function posInt(l: Record<string, unknown>, key: string, where: string, required: boolean): void {
  if (l[key] === undefined && !required) return;
  if (!isPosInt(l[key])) throw new Error(`${where}: ${key} must be a positive integer`);
}

function posSize(l: Record<string, unknown>, key: string, where: string, required: boolean): void {
  const v = l[key];
  if (v === undefined && !required) return;
  const ok = isPosInt(v) || (Array.isArray(v) && v.length === 2 && v.every(isPosInt));
  if (!ok) throw new Error(`${where}: ${key} must be a positive integer or [height, width]`);
}
