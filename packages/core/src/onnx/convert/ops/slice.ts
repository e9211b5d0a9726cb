import { identity, tfAxis } from '../layout.ts';
import { registerOnnxOp } from '../registry.ts';
import { dimsOf } from '../values.ts';
import { normAxis } from './_shared.ts';

registerOnnxOp('Slice', (c) => {
  const x = c.input(0);
  const dims = dimsOf(x);
  const r = dims.length;
  // Opset 10 moved starts/ends/axes (and added steps) from attributes to inputs.
  const old = c.opset < 10;
  const starts = old ? (c.intList('starts') ?? []) : c.ints(1, 'starts');
  const ends = old ? (c.intList('ends') ?? []) : c.ints(2, 'ends');
  const axes =
    (old ? c.intList('axes') : c.has(3) ? c.ints(3, 'axes') : undefined) ?? starts.map((_, i) => i);
  const steps = !old && c.has(4) ? c.ints(4, 'steps') : starts.map(() => 1);
  const perm = x.kind === 'sym' && !x.order ? x.perm : identity(r);
  const type = x.kind === 'const' ? x.tensor.type : x.type;
  const idx = dims.map((d) => Array.from({ length: d }, (_, i) => i));
  axes.forEach((a0, i) => {
    const a = normAxis(a0, r);
    const d = dims[a];
    const step = steps[i];
    let s = starts[i] < 0 ? starts[i] + d : starts[i];
    let e = ends[i] < 0 ? ends[i] + d : ends[i];
    const list: number[] = [];
    if (step > 0) {
      s = Math.max(0, Math.min(d, s));
      e = Math.max(0, Math.min(d, e));
      for (let j = s; j < e; j += step) list.push(j);
    } else {
      s = Math.max(0, Math.min(d - 1, s));
      e = Math.max(-1, Math.min(d - 1, e));
      for (let j = s; j > e; j += step) list.push(j);
    }
    idx[a] = list;
  });
  const contiguous = idx.every((l) => l.every((v, j) => j === 0 || v === l[j - 1] + 1));
  if (contiguous && idx.every((l) => l.length > 0)) {
    const begin = perm.map((a) => idx[a][0]);
    // -1 (to the end) on untouched axes keeps the batch free.
    const size = perm.map((a) => (idx[a].length === dims[a] ? -1 : idx[a].length));
    return c.op('slice', { begin, size }, [{ v: x, perm }], [{ perm, type }]);
  }
  // Steps other than 1 (or empty results): gather each sliced axis.
  let v = x;
  idx.forEach((l, a) => {
    if (l.length === dims[a] && l.every((j, k) => j === k)) return;
    const vp = v.kind === 'sym' ? v.perm : identity(r);
    v = c.op(
      'gather',
      { axis: tfAxis(a, vp), indices: l, indexShape: [l.length] },
      [{ v, perm: vp }],
      [{ perm: vp, type }],
    )[0];
  });
  return [v];
});
