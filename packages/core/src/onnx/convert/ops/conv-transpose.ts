import { transposeData } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import { dimsOf } from '../values.ts';
import { NHWC, need2d } from './_spatial.ts';

registerOnnxOp('ConvTranspose', (c) => {
  const x = c.input(0);
  const dims = dimsOf(x);
  need2d(c, dims.length);
  const w = c.constant(1, 'weights');
  const [inC, mg, kh, kw] = w.dims;
  if (c.int('group', 1) !== 1) c.fail('groups other than 1 are not supported');
  const d = c.intList('dilations') ?? [1, 1];
  if (d.some((v) => v !== 1)) c.fail('dilations are not supported');
  const s = c.intList('strides') ?? [1, 1];
  const op = c.intList('output_padding') ?? [0, 0];
  const k = [kh, kw];
  const inHW = [dims[2], dims[3]];
  let full = inHW.map((n, i) => (n - 1) * s[i] + k[i] + op[i]);
  let pads = c.intList('pads') ?? [0, 0, 0, 0];
  const outShape = c.intList('output_shape');
  const auto = c.str('auto_pad', 'NOTSET');
  if (outShape || auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    const want = outShape ? outShape.slice(-2) : inHW.map((n, i) => n * s[i]);
    // A requested size past the full output is output padding at the end.
    full = full.map((f, i) => Math.max(f, want[i]));
    const total = full.map((f, i) => f - want[i]);
    // ONNX: SAME_UPPER (and output_shape) put the odd pad at the end.
    const lower = auto === 'SAME_LOWER';
    pads = [0, 1].map((i) => (lower ? Math.ceil(total[i] / 2) : Math.floor(total[i] / 2)));
    pads = [pads[0], pads[1], total[0] - pads[0], total[1] - pads[1]];
  }
  const size = full.map((f, i) => f - pads[i] - pads[i + 2]);
  const kernel = transposeData(Float32Array.from(w.data), w.dims, [2, 3, 1, 0]);
  const args = [
    { v: x, perm: NHWC },
    {
      v: {
        kind: 'const' as const,
        tensor: { name: 'w', type: 'float' as const, dims: [kh, kw, mg, inC], data: kernel },
      },
      perm: [0, 1, 2, 3],
    },
  ];
  if (c.has(2)) args.push({ v: c.input(2) as (typeof args)[1]['v'], perm: [0] });
  return c.op(
    'conv_transpose',
    { strides: s, full, begin: [pads[0], pads[1]], size },
    args,
    [{ perm: NHWC, type: 'float' }],
    true,
  );
});
