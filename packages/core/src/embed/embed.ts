/**
 * A 2-D map of a feature matrix: PCA (linear, global distances, nothing to tune), UMAP or t-SNE
 * (non-linear, keep neighbourhoods: clusters show, distances between them mean little), all seeded, plus how well
 * classes separate in the map and in the full space.
 */
import type { JobHooks } from '../jobs/job.ts';
import { pca } from './pca.ts';
import { knnSeparation, type SeparationScore } from './quality.ts';
import { tsne2d } from './tsne.ts';
import { umap2d } from './umap.ts';

export type EmbedMethod = 'pca' | 'umap' | 'tsne';
export const EMBED_METHODS: EmbedMethod[] = ['pca', 'umap', 'tsne'];

export interface Embedding {
  method: EmbedMethod;
  seed: number;
  /** Row-major N×2. */
  coords: Float64Array;
  /** PCA: the two components' shares of the variance. */
  explained?: number[];
}

export interface EmbeddingQuality {
  /** Leave-one-out 5-NN accuracy in the 2-D map. */
  map: SeparationScore | null;
  /** The same in the full F-dimensional feature space. */
  full: SeparationScore | null;
}

export function embed2d(
  x: Float32Array,
  n: number,
  f: number,
  method: EmbedMethod,
  seed = 1,
  hooks?: JobHooks,
): Embedding {
  if (method === 'pca') {
    const p = pca(x, n, f, { components: 2, seed });
    const coords = new Float64Array(n * 2);
    // Fewer than two features: the second axis stays 0.
    for (let i = 0; i < n; i++) for (let c = 0; c < p.k; c++) coords[i * 2 + c] = p.scores[i * p.k + c];
    return { method, seed, coords, explained: p.explained };
  }
  if (method === 'tsne') return { method, seed, coords: tsne2d(x, n, f, { seed }, hooks) };
  return { method, seed, coords: umap2d(x, n, f, { seed }, hooks) };
}

export function embeddingQuality(
  x: Float32Array,
  n: number,
  f: number,
  coords: Float64Array,
  labels: ArrayLike<number>,
  seed = 1,
): EmbeddingQuality {
  return {
    map: knnSeparation(coords, n, 2, labels, { seed }),
    full: knnSeparation(x, n, f, labels, { seed }),
  };
}
