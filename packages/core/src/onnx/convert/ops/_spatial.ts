/** Pads, output sizes and layouts shared by Conv, ConvTranspose and the pools (2-D, NCHW files). */
import type { NodeCtx } from '../context.ts';

export const NHWC = [0, 2, 3, 1];

/** ONNX pads [top, left, bottom, right] for a 2-D window op, auto_pad included. */
export function spatialPads(c: NodeCtx, inHW: number[], k: number[], s: number[], d: number[]): number[] {
  const auto = c.str('auto_pad', 'NOTSET');
  if (auto === 'VALID') return [0, 0, 0, 0];
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') return samePads(inHW, k, s, d, auto === 'SAME_LOWER');
  const pads = c.intList('pads') ?? [0, 0, 0, 0];
  if (pads.length !== 4) c.fail(`pads [${pads}] are not 2-D`);
  return pads;
}

/** TF's 'same' padding (extra at the end; at the start for SAME_LOWER). */
export function samePads(inHW: number[], k: number[], s: number[], d: number[], lower = false): number[] {
  const begin: number[] = [];
  const end: number[] = [];
  inHW.forEach((n, i) => {
    const total = Math.max(0, (Math.ceil(n / s[i]) - 1) * s[i] + (k[i] - 1) * d[i] + 1 - n);
    const small = Math.floor(total / 2);
    begin.push(lower ? total - small : small);
    end.push(lower ? small : total - small);
  });
  return [begin[0], begin[1], end[0], end[1]];
}

export const samePadsEqual = (a: number[], b: number[]) => a.every((v, i) => v === b[i]);

export function need2d(c: NodeCtx, rank: number): void {
  if (rank !== 4) c.fail(`only 2-D (4-D NCHW) inputs are supported, not rank ${rank}`);
}
