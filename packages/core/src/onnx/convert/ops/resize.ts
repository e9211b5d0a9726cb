import * as tf from '@tensorflow/tfjs';
import type { NodeCtx } from '../context.ts';
import { identity, tfAxis } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import { dimsOf } from '../values.ts';

type Axis = { axis: number; i0: number[]; i1?: number[]; w?: number[] };

/** Source coordinate of output index x (ONNX Resize's coordinate_transformation_mode). */
function source(mode: string, x: number, scale: number, inLen: number, outLen: number): number {
  switch (mode) {
    case 'half_pixel':
      return (x + 0.5) / scale - 0.5;
    case 'pytorch_half_pixel':
      return outLen > 1 ? (x + 0.5) / scale - 0.5 : 0;
    case 'align_corners':
      // ONNX divides by the unrounded resized length (in · scale), not the integer size.
      return inLen * scale === 1 ? 0 : (x * (inLen - 1)) / (inLen * scale - 1);
    case 'asymmetric':
      return x / scale;
    case 'tf_half_pixel_for_nn':
      return (x + 0.5) / scale;
    default:
      throw new Error(`coordinate_transformation_mode '${mode}' is not supported`);
  }
}

const ROUND: Record<string, (v: number) => number> = {
  round_prefer_floor: (v) => Math.ceil(v - 0.5),
  round_prefer_ceil: (v) => Math.floor(v + 0.5),
  floor: Math.floor,
  ceil: Math.ceil,
};

function resize(
  c: NodeCtx,
  scalesIn: number[] | undefined,
  sizesIn: number[] | undefined,
  mode: string,
  coord: string,
  nearestMode: string,
) {
  const x = c.input(0);
  const dims = dimsOf(x);
  if (mode !== 'nearest' && mode !== 'linear')
    c.fail(`mode '${mode}' is not supported (nearest and linear are)`);
  const sizes = sizesIn?.length ? sizesIn : dims.map((d, i) => Math.floor(d * (scalesIn as number[])[i]));
  const scales = scalesIn?.length ? scalesIn : sizes.map((s, i) => s / dims[i]);
  const perm = x.kind === 'sym' && !x.order ? x.perm : identity(dims.length);
  const round = ROUND[nearestMode] ?? c.fail(`nearest_mode '${nearestMode}' is not supported`);
  const axes: Axis[] = [];
  let integerNearest = true;
  dims.forEach((n, a) => {
    const out = sizes[a];
    if (out === n && scales[a] === 1) return;
    const i0: number[] = [];
    const i1: number[] = [];
    const w: number[] = [];
    for (let o = 0; o < out; o++) {
      let src: number;
      try {
        src = source(coord, o, scales[a], n, out);
      } catch (e) {
        c.fail((e as Error).message);
      }
      if (mode === 'nearest') i0.push(Math.max(0, Math.min(n - 1, round(src))));
      else {
        const v = Math.max(0, Math.min(n - 1, src));
        const lo = Math.floor(v);
        i0.push(lo);
        i1.push(Math.min(lo + 1, n - 1));
        w.push(v - lo);
      }
    }
    const s = out / n;
    if (mode !== 'nearest' || !Number.isInteger(s) || i0.some((v, o) => v !== Math.floor(o / s)))
      integerNearest = false;
    axes.push(mode === 'nearest' ? { axis: tfAxis(a, perm), i0 } : { axis: tfAxis(a, perm), i0, i1, w });
  });
  const type = x.kind === 'const' ? x.tensor.type : x.type;
  if (axes.length === 0) return [x];
  // Integer nearest upsampling of H and W of a NHWC tensor is Keras's UpSampling2D.
  const nhwc = perm.join() === '0,2,3,1';
  if (
    !c.eager &&
    x.kind === 'sym' &&
    integerNearest &&
    nhwc &&
    axes.every((a) => a.axis === 1 || a.axis === 2)
  ) {
    const size: [number, number] = [sizes[2] / dims[2], sizes[3] / dims[3]];
    return [
      c.sym(c.keras(tf.layers.upSampling2d({ size, name: c.layerName() }), [c.arg(x, perm)]), perm, type),
    ];
  }
  return c.op('resize', { axes }, [{ v: x, perm }], [{ perm, type }]);
}

registerOnnxOp('Resize', (c) => {
  const mode = c.str('mode', 'nearest');
  if (c.opset < 11) return resize(c, c.ints(1, 'scales'), undefined, mode, 'asymmetric', 'floor');
  if (c.str('coordinate_transformation_mode', 'half_pixel') === 'tf_crop_and_resize')
    c.fail('tf_crop_and_resize is not supported');
  const scales = c.has(2) ? c.ints(2, 'scales') : undefined;
  const sizes = c.has(3) ? c.ints(3, 'sizes') : undefined;
  if (c.int('exclude_outside', 0)) c.fail('exclude_outside is not supported');
  const axes = c.intList('axes');
  const rank = dimsOf(c.input(0)).length;
  const full = (v: number[] | undefined, fill: (a: number) => number) => {
    if (!v?.length || !axes) return v;
    const out = Array.from({ length: rank }, (_, a) => fill(a));
    axes.forEach((a, i) => {
      out[a < 0 ? a + rank : a] = v[i];
    });
    return out;
  };
  if (c.str('keep_aspect_ratio_policy', 'stretch') !== 'stretch')
    c.fail('keep_aspect_ratio_policy is not supported');
  const dims = dimsOf(c.input(0));
  return resize(
    c,
    full(scales, () => 1),
    full(sizes, (a) => dims[a]),
    mode,
    c.str('coordinate_transformation_mode', 'half_pixel'),
    c.str('nearest_mode', 'round_prefer_floor'),
  );
});

registerOnnxOp('Upsample', (c) => {
  const scales = c.opset >= 9 ? c.ints(1, 'scales') : (c.intList('scales') ?? c.fail('has no scales'));
  return resize(c, scales, undefined, c.str('mode', 'nearest'), 'asymmetric', 'floor');
});
