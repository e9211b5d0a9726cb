/** A tiny ONNX classifier named the way torch.onnx.export names nodes, for the ONNX tests. */
import { floatInfo, model, rawFloat } from '../../core/test/helpers/onnx-build.ts';

export const W = Array.from({ length: 4 * 3 * 3 * 3 }, (_, i) => Math.sin(i) * 0.3);
export const GW = Array.from({ length: 3 * 4 }, (_, i) => Math.cos(i));

/** /features/conv/Conv → Relu → GlobalAveragePool → Flatten → /fc/Gemm, as torch names nodes. */
export function tinyTorchNet(
  o: { dims?: (number | string)[]; external?: string; op?: string; opset?: number } = {},
) {
  const w = o.external
    ? {
        name: 'w',
        dims: [4, 3, 3, 3],
        data_type: 1,
        data_location: 1,
        external_data: [
          { key: 'location', value: o.external },
          { key: 'offset', value: '8' },
        ],
      }
    : rawFloat('w', [4, 3, 3, 3], W);
  return model(
    {
      name: 'tiny',
      node: [
        {
          name: '/features/conv/Conv',
          op_type: 'Conv',
          input: ['input', 'w'],
          output: ['c'],
          attribute: [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }],
        },
        { name: '/features/act/Relu', op_type: o.op ?? 'Relu', input: ['c'], output: ['r'] },
        { name: '/pool/GlobalAveragePool', op_type: 'GlobalAveragePool', input: ['r'], output: ['p'] },
        { name: '/Flatten', op_type: 'Flatten', input: ['p'], output: ['f'] },
        {
          name: '/fc/Gemm',
          op_type: 'Gemm',
          input: ['f', 'gw', 'gb'],
          output: ['logits'],
          attribute: [{ name: 'transB', type: 2, i: 1 }],
        },
      ],
      initializer: [w, rawFloat('gw', [3, 4], GW), rawFloat('gb', [3], [0.1, -0.2, 0.3])],
      input: [floatInfo('input', o.dims ?? ['batch', 3, 8, 8])],
      output: [floatInfo('logits', ['batch', 3])],
    },
    o.opset ?? 13,
  );
}
