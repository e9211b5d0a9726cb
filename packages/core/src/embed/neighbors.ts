/**
 * Nearest neighbours in feature space, brute force: exact, and a few thousand rows × a few hundred
 * features take milliseconds per query. Cosine compares the direction of the activation pattern (what
 * fires, not how strongly; the usual choice for CNN embeddings), euclidean the raw activations.
 */

export type Metric = 'cosine' | 'euclidean';

export interface Neighbor {
  index: number;
  /** Cosine distance (1 − cos) or euclidean distance. */
  distance: number;
}

function norms(x: Float32Array, n: number, f: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < f; j++) s += x[i * f + j] ** 2;
    out[i] = Math.sqrt(s);
  }
  return out;
}

/** Distance from row `q` (or a query vector) to every row. */
export function distancesTo(
  x: Float32Array,
  n: number,
  f: number,
  query: number | Float32Array,
  metric: Metric,
  rowNorms?: Float64Array,
): Float64Array {
  const qv = typeof query === 'number' ? x.subarray(query * f, (query + 1) * f) : query;
  if (qv.length !== f) throw new Error(`neighbors: query has ${qv.length} features, not ${f}`);
  const out = new Float64Array(n);
  if (metric === 'euclidean') {
    for (let i = 0; i < n; i++) {
      let s = 0;
      const o = i * f;
      for (let j = 0; j < f; j++) {
        const d = x[o + j] - qv[j];
        s += d * d;
      }
      out[i] = Math.sqrt(s);
    }
    return out;
  }
  const nr = rowNorms ?? norms(x, n, f);
  let qn = 0;
  for (let j = 0; j < f; j++) qn += qv[j] ** 2;
  qn = Math.sqrt(qn);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * f;
    for (let j = 0; j < f; j++) s += x[o + j] * qv[j];
    // An all-zero row (a dead layer) is at distance 1 from everything: orthogonal, not identical.
    out[i] = nr[i] > 0 && qn > 0 ? 1 - s / (nr[i] * qn) : 1;
  }
  return out;
}

/** The k nearest rows to row `q` (itself excluded), nearest first; ties go to the lower index. */
export function nearestNeighbors(
  x: Float32Array,
  n: number,
  f: number,
  q: number,
  k: number,
  metric: Metric = 'cosine',
  rowNorms?: Float64Array,
): Neighbor[] {
  if (!Number.isInteger(q) || q < 0 || q >= n)
    throw new Error(`neighbors: index ${q} is out of range (0–${n - 1})`);
  const d = distancesTo(x, n, f, q, metric, rowNorms);
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (i !== q) idx.push(i);
  idx.sort((a, b) => d[a] - d[b] || a - b);
  return idx.slice(0, Math.max(0, k)).map((index) => ({ index, distance: d[index] }));
}

export { norms as rowNorms };
