/**
 * Analytic receptive fields of conv/pool stacks (the "size, jump, start" recurrence). Per axis, a
 * unit at output index i of a layer sees input rows start + i·jump … start + i·jump + size − 1
 * (start may be negative: padding). Padding follows TensorFlow: 'same' pads
 * max((⌈n/s⌉ − 1)·s + k_eff − n, 0), the smaller half before.
 */
import type * as tf from '@tensorflow/tfjs';

/** Receptive field along one axis, in input pixels. */
export interface AxisField {
  size: number;
  jump: number;
  start: number;
}

export interface LayerField {
  layer: string;
  className: string;
  /** Output height/width; absent once the layer is no longer spatial (flatten, dense, global pooling). */
  outSize?: [number, number];
  /** Rows and columns; a non-spatial layer sees the whole input. */
  rows: AxisField;
  cols: AxisField;
  /** True when every output unit depends on every input pixel. */
  global: boolean;
}

/** An inclusive pixel box [y0, y1] × [x0, x1]. */
export interface Box {
  y0: number;
  x0: number;
  y1: number;
  x1: number;
}

interface Geometry {
  kernel: [number, number];
  strides: [number, number];
  dilation: [number, number];
  padding: string;
}

const pair = (v: unknown, fallback: number): [number, number] => {
  if (v === undefined || v === null) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  const a = v as number[];
  return [a[0], a.length > 1 ? a[1] : a[0]];
};

const SPATIAL_IDENTITY = new Set([
  'Activation',
  'ReLU',
  'LeakyReLU',
  'ELU',
  'PReLU',
  'Softmax',
  'ThresholdedReLU',
  'BatchNormalization',
  'LayerNormalization',
  'Dropout',
  'SpatialDropout2D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'Rescaling',
]);

function geometry(layer: tf.layers.Layer): Geometry | undefined {
  const c = layer.getConfig() as Record<string, unknown>;
  switch (layer.getClassName()) {
    case 'Conv2D':
    case 'DepthwiseConv2D':
    case 'SeparableConv2D':
      return {
        kernel: pair(c.kernelSize, 1),
        strides: pair(c.strides, 1),
        dilation: pair(c.dilationRate, 1),
        padding: String(c.padding ?? 'valid'),
      };
    case 'MaxPooling2D':
    case 'AveragePooling2D':
      return {
        kernel: pair(c.poolSize, 2),
        strides: pair(c.strides ?? c.poolSize, 2),
        dilation: [1, 1],
        padding: String(c.padding ?? 'valid'),
      };
    default:
      return undefined;
  }
}

/** Pixels of padding before the first row/column (TensorFlow's convention). */
export function padBefore(
  inSize: number,
  kernel: number,
  stride: number,
  dilation: number,
  padding: string,
): number {
  if (padding !== 'same') return 0;
  const eff = dilation * (kernel - 1) + 1;
  const total = Math.max((Math.ceil(inSize / stride) - 1) * stride + eff - inSize, 0);
  return Math.floor(total / 2);
}

/** One conv/pool step of the recurrence along an axis. */
export function stepField(
  f: AxisField,
  inSize: number,
  kernel: number,
  stride: number,
  dilation: number,
  padding: string,
): AxisField {
  const eff = dilation * (kernel - 1) + 1;
  return {
    size: f.size + (eff - 1) * f.jump,
    jump: f.jump * stride,
    start: f.start - padBefore(inSize, kernel, stride, dilation, padding) * f.jump,
  };
}

/**
 * Receptive field of every layer, in model order (input layer excluded). Follows each layer's
 * first inbound layer, so chains and models whose branches share geometry are handled; a layer
 * with several inputs takes the union of their fields.
 */
export function receptiveFields(model: tf.LayersModel): LayerField[] {
  const inShape = model.inputs[0].shape as (number | null)[];
  const H = inShape[1] ?? 0;
  const W = inShape[2] ?? 0;
  const whole = (): Pick<LayerField, 'rows' | 'cols' | 'global'> => ({
    rows: { size: H, jump: H, start: 0 },
    cols: { size: W, jump: W, start: 0 },
    global: true,
  });
  const byName = new Map<string, LayerField>();
  const out: LayerField[] = [];
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls === 'InputLayer') {
      byName.set(layer.name, {
        layer: layer.name,
        className: cls,
        outSize: [H, W],
        rows: { size: 1, jump: 1, start: 0 },
        cols: { size: 1, jump: 1, start: 0 },
        global: false,
      });
      continue;
    }
    const inbound = ((layer as any).inboundNodes?.[0]?.inboundLayers ?? []) as tf.layers.Layer[];
    const parents = inbound.map((p) => byName.get(p.name)).filter((p): p is LayerField => !!p);
    if (parents.length === 0) throw new Error(`layer '${layer.name}': cannot find its input in the model`);
    const parent = union(parents);
    const outShape = (layer.outputShape as number[]).slice(1);
    const g = geometry(layer);
    let field: LayerField;
    if (
      parent.global ||
      !parent.outSize ||
      (!g && !SPATIAL_IDENTITY.has(cls) && parents.length === 1) ||
      outShape.length !== 3
    ) {
      field = { layer: layer.name, className: cls, ...whole() };
    } else if (g) {
      const [ih, iw] = parent.outSize;
      field = {
        layer: layer.name,
        className: cls,
        outSize: [outShape[0], outShape[1]],
        rows: stepField(parent.rows, ih, g.kernel[0], g.strides[0], g.dilation[0], g.padding),
        cols: stepField(parent.cols, iw, g.kernel[1], g.strides[1], g.dilation[1], g.padding),
        global: false,
      };
    } else {
      field = { ...parent, layer: layer.name, className: cls, outSize: [outShape[0], outShape[1]] };
    }
    byName.set(layer.name, field);
    out.push(field);
  }
  return out;
}

function union(fields: LayerField[]): LayerField {
  if (fields.length === 1) return fields[0];
  if (fields.some((f) => f.global)) return fields.find((f) => f.global)!;
  const ax = (a: AxisField, b: AxisField): AxisField => {
    if (a.jump !== b.jump) throw new Error('merging branches with different strides is not supported');
    const start = Math.min(a.start, b.start);
    return { jump: a.jump, start, size: Math.max(a.start + a.size, b.start + b.size) - start };
  };
  let rows = fields[0].rows;
  let cols = fields[0].cols;
  for (const f of fields.slice(1)) {
    rows = ax(rows, f.rows);
    cols = ax(cols, f.cols);
  }
  return { ...fields[0], rows, cols };
}

/** The field of one layer by name. */
export function layerField(model: tf.LayersModel, layer: string): LayerField {
  const f = receptiveFields(model).find((x) => x.layer === layer);
  if (!f) throw new Error(`unknown layer '${layer}'`);
  return f;
}

/** Input box seen by the unit at (y, x) of a layer: unclipped (may extend into padding). */
export function unitBox(f: LayerField, y: number, x: number): Box {
  if (f.global) return { y0: 0, x0: 0, y1: f.rows.size - 1, x1: f.cols.size - 1 };
  const y0 = f.rows.start + y * f.rows.jump;
  const x0 = f.cols.start + x * f.cols.jump;
  return { y0, x0, y1: y0 + f.rows.size - 1, x1: x0 + f.cols.size - 1 };
}

/** A box clipped to a height×width image. */
export function clipBox(b: Box, height: number, width: number): Box {
  return {
    y0: Math.max(0, b.y0),
    x0: Math.max(0, b.x0),
    y1: Math.min(height - 1, b.y1),
    x1: Math.min(width - 1, b.x1),
  };
}
