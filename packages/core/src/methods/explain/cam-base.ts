/**
 * The CAM base every CAM variant is built on (pytorch-grad-cam's BaseCAM): a variant only says what
 * it computes at one layer — channel-weighted activations [N, h, w, C], or a map directly — and the
 * base does the rest in one place for all of them: the layer or layers (`layer: 'a,b,c'`, fused by
 * a rule), the channel sum or its first principal component (`eigenSmooth`), ReLU, upsampling to the
 * input, and flip × scale test-time augmentation with the maps mapped back (`augSmooth`).
 */
import * as tf from '@tensorflow/tfjs';
import { pca } from '../../embed/pca.ts';
import { finish, pickLayer, resolveTargets, upsample } from './common.ts';
import type { ExplainMethod, ExplainRequest, Explanation } from './types.ts';

/** Options every CAM method takes (the CLI's --aug-smooth, --eigen-smooth, --fusion). */
export interface CamBaseOptions {
  /** Keep negative evidence instead of the usual ReLU (default false). */
  signed?: boolean;
  /** Average the maps over horizontal flips × `augScales` zooms of the input, each mapped back (default false). */
  augSmooth?: boolean;
  /** Zoom factors about the centre for augSmooth (default [0.9, 1, 1.1]); each is run unflipped and flipped. */
  augScales?: number[];
  /** First principal component of the weighted activations instead of their channel sum (default false). */
  eigenSmooth?: boolean;
  /** How maps of several layers combine, each scaled to a maximum of 1 first (default 'mean'). */
  fusion?: CamFusion;
}

export type CamFusion = 'mean' | 'max' | 'min';
const FUSIONS: CamFusion[] = ['mean', 'max', 'min'];

/** What a variant gets for one layer (undefined for variants without one, e.g. FullGrad). */
export interface CamStep<O> {
  model: tf.LayersModel;
  /** [N, H, W, C]: the request's input, or an augmented copy of it. Not disposed by the variant. */
  input: tf.Tensor4D;
  targets: number[];
  layer: tf.layers.Layer | undefined;
  options: O;
}

/** A variant's result at one layer; the base disposes its tensors. */
export interface CamLayerOutput {
  /** [N, h, w, C] channel-weighted activations: the map is their channel sum (or first component). */
  weighted?: tf.Tensor4D;
  /** [N, h, w] maps, for variants that are not a channel weighting (Eigen-CAM, FullGrad). */
  map?: tf.Tensor3D;
  /** Always project `weighted` on its first principal component (EigenGrad-CAM). */
  project?: boolean;
  /** Method-specific numbers (arrays of one value per input are split per input by explain). */
  meta?: Record<string, unknown>;
  /** One list of notes per input. */
  warnings?: string[][];
}

export interface CamVariant<O> {
  id: string;
  title: string;
  description: string;
  /** Whether the variant reads a layer (default true); FullGrad reads all of them. */
  needsLayer?: boolean;
  /** A sanity-check baseline rather than an explanation (RandomCAM). */
  control?: boolean;
  /** Checks the variant's own options before any work (one-line errors). */
  check?: (options: O) => void;
  compute(step: CamStep<O>): Promise<CamLayerOutput> | CamLayerOutput;
}

const EPS = 1e-7;

/** A registered ExplainMethod from a variant: layers, smoothing, augmentation and fusion come from here. */
export function camMethod<O>(v: CamVariant<O>): ExplainMethod<O & CamBaseOptions> {
  return {
    id: v.id,
    title: v.title,
    description: v.description,
    needsLayer: v.needsLayer ?? true,
    cam: true,
    ...(v.control ? { control: true } : {}),
    explain: (req) => camExplainWith(v, req),
  };
}

/** Horizontal flip and zoom about the centre; maps come back through the inverse. */
interface Augmentation {
  flip: boolean;
  scale: number;
}

function checkBase(o: CamBaseOptions): void {
  if (o.fusion !== undefined && !FUSIONS.includes(o.fusion))
    throw new Error(`fusion must be one of ${FUSIONS.join(', ')}, got '${o.fusion}'`);
  if (o.augScales !== undefined) {
    if (!Array.isArray(o.augScales) || o.augScales.length === 0)
      throw new Error('augScales must be a non-empty list of zoom factors');
    for (const s of o.augScales)
      if (!(typeof s === 'number' && s > 0 && s <= 4))
        throw new Error(`augScales must be zoom factors in (0, 4], got ${s}`);
  }
}

export async function camExplainWith<O>(
  v: CamVariant<O>,
  req: ExplainRequest<O & CamBaseOptions>,
): Promise<Explanation> {
  const o = { ...req.options } as O & CamBaseOptions;
  // One zoom from the command line (--opt augScales=1.2) arrives as a number.
  if (typeof o.augScales === 'number') o.augScales = [o.augScales];
  checkBase(o);
  v.check?.(o);
  const targets = resolveTargets(req.model, req);
  const [, H, W] = req.input.shape;
  const names = (req.layer ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (v.needsLayer === false && names.length > 0)
    throw new Error(`${v.id} reads every layer: it takes no layer (got '${req.layer}')`);
  const picked =
    v.needsLayer === false
      ? []
      : names.length
        ? names.map((nm) => pickLayer(req.model, nm))
        : [pickLayer(req.model)];
  const layers = picked.length ? picked.map((p) => p.layer) : [undefined];
  const warnings: string[][] = targets.map(() => picked.flatMap((p) => (p.warning ? [p.warning] : [])));
  const note = (i: number, w: string) => {
    if (!warnings[i].includes(w)) warnings[i].push(w);
  };

  const augs: Augmentation[] = o.augSmooth
    ? (o.augScales ?? [0.9, 1, 1.1])
        .slice()
        .sort((a, b) => Math.abs(a - 1) - Math.abs(b - 1)) // the plain view first: its meta is reported
        .flatMap((scale) => [
          { flip: false, scale },
          { flip: true, scale },
        ])
    : [{ flip: false, scale: 1 }];

  let meta: Record<string, unknown> = {};
  let sum: tf.Tensor3D | null = null;
  let cover: tf.Tensor3D | null = null;
  try {
    for (const [a, aug] of augs.entries()) {
      const x = augment(req.input, aug);
      let fused: tf.Tensor3D;
      try {
        const perLayer: tf.Tensor3D[] = [];
        const layerMeta: Record<string, unknown>[] = [];
        try {
          for (const layer of layers) {
            const r = await layerMap(v, { model: req.model, input: x, targets, layer, options: o }, H, W);
            perLayer.push(r.map);
            layerMeta.push(r.meta);
            r.warnings.forEach((ws, i) => {
              for (const w of ws) note(i, w);
            });
          }
          fused = fuse(perLayer, o.fusion ?? 'mean');
        } finally {
          tf.dispose(perLayer);
        }
        if (a === 0) meta = summarize(layers, layerMeta, o.fusion ?? 'mean');
      } finally {
        if (x !== req.input) x.dispose();
      }
      const [back, c] = tf.tidy(() => restore(fused, aug));
      fused.dispose();
      const s2: tf.Tensor3D = sum ? tf.add(sum, back) : back.clone();
      const c2: tf.Tensor3D = cover ? tf.add(cover, c) : c.clone();
      tf.dispose([sum, cover, back, c] as tf.Tensor[]);
      sum = s2;
      cover = c2;
    }
    const maps = tf.tidy(
      () => tf.div(sum as tf.Tensor3D, tf.maximum(cover as tf.Tensor3D, EPS)) as tf.Tensor3D,
    );
    try {
      const layerNames = layers.filter((l): l is tf.layers.Layer => !!l).map((l) => l.name);
      return await finish(v.id, maps, targets, !!o.signed, {
        ...(layerNames.length ? { layer: layerNames.join(',') } : {}),
        warnings,
        meta: {
          ...meta,
          ...(o.augSmooth ? { augmentations: augs.length } : {}),
          ...(o.eigenSmooth ? { eigenSmooth: true } : {}),
        },
      });
    } finally {
      maps.dispose();
    }
  } finally {
    tf.dispose([sum, cover] as tf.Tensor[]);
  }
}

/** One layer's map at input resolution (after ReLU unless signed), with its meta and notes. */
async function layerMap<O>(
  v: CamVariant<O>,
  step: CamStep<O & CamBaseOptions>,
  H: number,
  W: number,
): Promise<{ map: tf.Tensor3D; meta: Record<string, unknown>; warnings: string[][] }> {
  const out = await v.compute(step);
  const o = step.options;
  const warnings = out.warnings ?? step.targets.map(() => []);
  let raw: tf.Tensor3D | undefined;
  try {
    if (out.weighted) {
      raw =
        out.project || o.eigenSmooth
          ? await firstComponent(out.weighted)
          : tf.tidy(() => tf.sum(out.weighted as tf.Tensor4D, 3) as tf.Tensor3D);
    } else if (out.map) {
      raw = out.map.clone();
      if (o.eigenSmooth)
        for (const w of warnings) w.push(`eigen-smooth does not apply to ${v.id} (no channel weights)`);
    } else throw new Error(`${v.id} computed nothing`);
    const r = raw;
    const map = tf.tidy(() => upsample(o.signed ? r : (tf.relu(r) as tf.Tensor3D), H, W));
    const meta = {
      ...(step.layer
        ? { layer: step.layer.name, layerShape: (step.layer.outputShape as number[]).slice(1) }
        : {}),
      ...out.meta,
    };
    return { map, meta, warnings };
  } finally {
    tf.dispose([out.weighted, out.map, raw].filter((t) => t !== undefined) as tf.Tensor[]);
  }
}

/**
 * Each example's [h·w, C] weighted activations projected on their first principal component (centred,
 * as pytorch-grad-cam's get_2d_projection), signed to agree with the channel sum — the map the
 * projection smooths — so a smoothed map does not come out inverted.
 */
export async function firstComponent(weighted: tf.Tensor4D): Promise<tf.Tensor3D> {
  const [n, h, w, c] = weighted.shape;
  const data = (await weighted.data()) as Float32Array;
  const out = new Float32Array(n * h * w);
  for (let i = 0; i < n; i++) {
    const x = data.subarray(i * h * w * c, (i + 1) * h * w * c);
    // Non-finite activations (a randomised or diverging model) have no principal component: the
    // map is NaN, which the method's warnings report, instead of an exception from the PCA.
    if (!x.every(Number.isFinite)) {
      out.fill(Number.NaN, i * h * w, (i + 1) * h * w);
      continue;
    }
    const p = pca(x, h * w, c, { components: 1 }).scores;
    let dot = 0;
    for (let q = 0; q < h * w; q++) {
      let s = 0;
      for (let k = 0; k < c; k++) s += x[q * c + k];
      dot += s * p[q];
    }
    const sign = dot < 0 ? -1 : 1;
    for (let q = 0; q < h * w; q++) out[i * h * w + q] = sign * p[q];
  }
  return tf.tensor3d(out, [n, h, w]);
}

/**
 * Several layers' maps in one: each example's map scaled to a maximum |value| of 1, combined by the
 * rule, and scaled back by the layers' mean maximum (so one layer comes back unchanged).
 */
export function fuse(maps: tf.Tensor3D[], rule: CamFusion): tf.Tensor3D {
  if (maps.length === 1) return maps[0].clone();
  return tf.tidy(() => {
    const peaks = maps.map((m) => tf.max(tf.abs(m), [1, 2], true));
    const unit = tf.stack(maps.map((m, l) => tf.div(m, tf.add(peaks[l], EPS))));
    const combined = rule === 'mean' ? tf.mean(unit, 0) : rule === 'max' ? tf.max(unit, 0) : tf.min(unit, 0);
    return tf.mul(combined, tf.mean(tf.stack(peaks), 0)) as tf.Tensor3D;
  });
}

/** The pixel of the augmented image at p comes from c + (p − c)/scale of the original (zero outside). */
function zoom(x: tf.Tensor4D, scale: number): tf.Tensor4D {
  if (scale === 1) return x.clone();
  const [, H, W] = x.shape;
  const cx = (W - 1) / 2;
  const cy = (H - 1) / 2;
  const k = 1 / scale;
  return tf.image.transform(
    x,
    tf.tensor2d([[k, 0, cx * (1 - k), 0, k, cy * (1 - k), 0, 0]]),
    'bilinear',
    'constant',
    0,
  );
}

function augment(x: tf.Tensor4D, a: Augmentation): tf.Tensor4D {
  if (!a.flip && a.scale === 1) return x;
  return tf.tidy(() => {
    const z = zoom(x, a.scale);
    return a.flip ? (tf.reverse(z, 2) as tf.Tensor4D) : z;
  });
}

/** Maps of an augmented input back onto the original pixels, with how much of each pixel they cover. */
function restore(maps: tf.Tensor3D, a: Augmentation): [tf.Tensor3D, tf.Tensor3D] {
  const m = tf.expandDims(a.flip ? tf.reverse(maps, 2) : maps, 3) as tf.Tensor4D;
  const ones = tf.onesLike(m);
  const back = tf.squeeze(zoom(m, 1 / a.scale), [3]) as tf.Tensor3D;
  const cover = tf.squeeze(zoom(ones, 1 / a.scale), [3]) as tf.Tensor3D;
  return [back, cover];
}

/** The meta of one layer as it is; of several, the layer names and each layer's meta by name. */
function summarize(
  layers: (tf.layers.Layer | undefined)[],
  metas: Record<string, unknown>[],
  fusion: CamFusion,
): Record<string, unknown> {
  if (metas.length === 1) return metas[0];
  return {
    layers: layers.map((l) => l?.name),
    fusion,
    perLayer: Object.fromEntries(layers.map((l, i) => [l?.name ?? String(i), metas[i]])),
  };
}
