export {
  type ConvertedOnnx,
  type ConvertOptions,
  convertOnnx,
  findUnsupported,
  OnnxUnsupportedError,
  type UnsupportedNode,
} from './convert.ts';
export { OnnxOpLayer, registerOpFn } from './op-layer.ts';
export { supportedOnnxOps } from './registry.ts';
export { runOnnxGraph } from './run.ts';
