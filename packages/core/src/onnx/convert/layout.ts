/**
 * Layouts: a converted value keeps the file's axes in some order. `perm[i]` is the ONNX axis that
 * tfjs axis i holds (NCHW image tensors live as NHWC: perm [0, 2, 3, 1]). Ops that do not care about
 * order (element-wise, transposes) just carry the permutation along, so no transpose is inserted for
 * them; only ops that need a given order (convs want channels last, reshapes want row-major order)
 * move data.
 */
export const identity = (rank: number): number[] => Array.from({ length: rank }, (_, i) => i);

/** Channels last for rank ≥ 3 (N, spatial…, C), identity below. */
export const channelsLast = (rank: number): number[] =>
  rank < 3 ? identity(rank) : [0, ...identity(rank - 2).map((i) => i + 2), 1];

export const samePerm = (a: number[], b: number[]): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

/** ONNX dims → the tfjs shape in layout `perm`. */
export const toTf = (dims: number[], perm: number[]): number[] => perm.map((a) => dims[a]);

/** A tfjs shape in layout `perm` → ONNX dims. */
export function toOnnx(shape: number[], perm: number[]): number[] {
  const dims = new Array<number>(perm.length);
  perm.forEach((a, i) => {
    dims[a] = shape[i];
  });
  return dims;
}

/** The tfjs axis that holds ONNX axis `axis` (negative axes count from the end). */
export function tfAxis(axis: number, perm: number[]): number {
  const a = axis < 0 ? axis + perm.length : axis;
  const i = perm.indexOf(a);
  if (i < 0) throw new Error(`axis ${axis} out of range for rank ${perm.length}`);
  return i;
}

/** The tfjs transpose that takes a value from layout `from` to layout `to`. */
export const transposeBetween = (from: number[], to: number[]): number[] => to.map((a) => from.indexOf(a));

export const product = (xs: number[]): number => xs.reduce((a, b) => a * b, 1);

/** Row-major transpose of plain data (for constants). */
export function transposeData<T extends Float32Array | Float64Array>(
  data: T,
  dims: number[],
  perm: number[],
): T {
  const rank = dims.length;
  if (rank < 2 || perm.every((p, i) => p === i)) return data;
  const outDims = perm.map((p) => dims[p]);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= dims[i];
  }
  const strides = perm.map((p) => inStrides[p]);
  const out = new (data.constructor as { new (n: number): T })(data.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < data.length; o++) {
    let src = 0;
    for (let i = 0; i < rank; i++) src += idx[i] * strides[i];
    out[o] = data[src];
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i] < outDims[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

/**
 * How a row-major reshape from `from` to `to` groups axes: each group is a run of input axes whose
 * sizes multiply to a run of output axes. Size-1 axes are left out of every group (they can sit
 * anywhere). Null when the element counts differ.
 */
export function reshapeGroups(from: number[], to: number[]): { ins: number[]; outs: number[] }[] | null {
  const a = from.map((d, i) => [d, i]).filter(([d]) => d !== 1);
  const b = to.map((d, i) => [d, i]).filter(([d]) => d !== 1);
  const groups: { ins: number[]; outs: number[] }[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const g = { ins: [a[i][1]], outs: [b[j][1]] };
    let pa = a[i++][0];
    let pb = b[j++][0];
    while (pa !== pb) {
      if (pa < pb) {
        if (i >= a.length) return null;
        g.ins.push(a[i][1]);
        pa *= a[i++][0];
      } else {
        if (j >= b.length) return null;
        g.outs.push(b[j][1]);
        pb *= b[j++][0];
      }
    }
    groups.push(g);
  }
  return i === a.length && j === b.length ? groups : null;
}
