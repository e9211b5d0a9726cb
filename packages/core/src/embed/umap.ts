/**
 * UMAP (umap-js, McInnes et al.'s algorithm) seeded through its `random` option: the same seed gives the
 * same map bit for bit. Its input is the data's top 30 principal components, as umap-learn
 * and scikit-learn's t-SNE advise for wide data: the neighbour graph is found ~20× faster and the
 * directions dropped are mostly noise.
 */
import { UMAP } from 'umap-js';
import { createRng } from '../data/rng.ts';
import { checkStop, type JobHooks } from '../jobs/job.ts';
import { pca } from './pca.ts';

export interface UmapOptions {
  seed?: number;
  /** Neighbours per point (default 15, umap-learn's). */
  neighbors?: number;
  /** Default 0.1 (umap-learn's). */
  minDist?: number;
  /** Principal components fed to UMAP (default 30; 0: the raw features). */
  pcaComponents?: number;
  /** Optimization epochs (default: umap-js's, 500 below 2,500 points, else 200). */
  epochs?: number;
}

/** Row-major N×2 coordinates. */
export function umap2d(
  x: Float32Array,
  n: number,
  f: number,
  opts: UmapOptions = {},
  hooks?: JobHooks,
): Float64Array {
  const seed = opts.seed ?? 1;
  if (n < 3) throw new Error(`umap: needs at least 3 points, got ${n}`);
  const dims = opts.pcaComponents ?? 30;
  let rows: number[][];
  if (dims > 0 && f > dims) {
    const p = pca(x, n, f, { components: dims, seed, iterations: 3 });
    rows = Array.from({ length: n }, (_, i) => Array.from(p.scores.subarray(i * p.k, (i + 1) * p.k)));
  } else rows = Array.from({ length: n }, (_, i) => Array.from(x.subarray(i * f, (i + 1) * f)));
  const u = new UMAP({
    nComponents: 2,
    nNeighbors: Math.max(2, Math.min(opts.neighbors ?? 15, n - 1)),
    minDist: opts.minDist ?? 0.1,
    nEpochs: opts.epochs,
    random: createRng(seed),
  });
  const epochs = u.initializeFit(rows);
  for (let e = 0; e < epochs; e++) {
    u.step();
    if (e % 10 === 0 || e === epochs - 1) {
      hooks?.onProgress?.(e + 1, epochs, { phase: 'umap' });
      checkStop(hooks, 'umap');
    }
  }
  const emb = u.getEmbedding();
  const out = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) {
    out[i * 2] = emb[i][0];
    out[i * 2 + 1] = emb[i][1];
  }
  return out;
}
