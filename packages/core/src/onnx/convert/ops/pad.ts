import * as tf from '@tensorflow/tfjs';
import { identity } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import { dimsOf } from '../values.ts';
import { NHWC } from './_spatial.ts';

registerOnnxOp('Pad', (c) => {
  const x = c.input(0);
  const r = dimsOf(x).length;
  // Opset 11 moved pads and the constant value from attributes to inputs.
  const pads = c.opset >= 11 ? c.ints(1, 'pads') : (c.intList('pads') ?? c.intList('paddings') ?? []);
  const value = c.opset >= 11 ? (c.has(2) ? c.ints(2, 'constant_value')[0] : 0) : c.float('value', 0);
  const mode = c.str('mode', 'constant');
  if (!['constant', 'reflect', 'edge'].includes(mode)) c.fail(`mode '${mode}' is not supported`);
  const perm = x.kind === 'sym' && !x.order ? x.perm : identity(r);
  const type = x.kind === 'const' ? x.tensor.type : x.type;
  const byOnnx = (a: number): [number, number] => [pads[a], pads[a + r]];
  const spatialOnly = r === 4 && pads[0] === 0 && pads[1] === 0 && pads[4] === 0 && pads[5] === 0;
  if (
    !c.eager &&
    x.kind === 'sym' &&
    mode === 'constant' &&
    value === 0 &&
    spatialOnly &&
    pads.every((p) => p >= 0)
  ) {
    const layer = tf.layers.zeroPadding2d({ padding: [byOnnx(2), byOnnx(3)], name: c.layerName() });
    return [c.sym(c.keras(layer, [c.arg(x, NHWC)]), NHWC, type)];
  }
  const paddings = perm.map((a) => byOnnx(a).map((p) => Math.max(0, p)) as [number, number]);
  let [y] = c.op('pad', { paddings, mode, value }, [{ v: x, perm }], [{ perm, type }]);
  if (pads.some((p) => p < 0)) {
    const dims = dimsOf(y);
    const begin = perm.map((a) => Math.max(0, -pads[a]));
    const size = perm.map((a) =>
      pads[a] >= 0 && pads[a + r] >= 0 ? -1 : dims[a] - Math.max(0, -pads[a]) - Math.max(0, -pads[a + r]),
    );
    [y] = c.op('crop', { begin, size }, [{ v: y, perm }], [{ perm, type }]);
  }
  return [y];
});
