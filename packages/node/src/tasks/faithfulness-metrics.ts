/**
 * The metrics of the faithfulness job, grouped by family, each giving one raw value per image from a
 * chunk of images and their maps. Raw per-image values (not means) are what a shard writes, so a new
 * metric flows through the partials and the merge without any change there.
 */
import { createRng } from '@convlens/core/data/rng';
import { tf } from '@convlens/core/engine/backend';
import { deletionInsertion, rankPixels } from '@convlens/core/methods/faithfulness/deletion-insertion';
import { cloneModel, randomizeLayer } from '@convlens/core/methods/faithfulness/randomization';
import { spearman } from '@convlens/core/methods/faithfulness/rank-correlation';
import { areaOver, road } from '@convlens/core/methods/faithfulness/road';
import type { RankBy } from '@convlens/core/metrics/common';
import { strokeMasks } from '@convlens/core/metrics/regions';
import { canRun, metrics as registryMetrics } from '@convlens/core/metrics/registry';
import type { Metric, MetricContext, MetricFamily } from '@convlens/core/metrics/types';

export type { MetricFamily };

/** Families in the order the table shows them; only faithfulness and randomisation decide trust. */
export const FAMILY_ORDER: MetricFamily[] = [
  'faithfulness',
  'randomisation',
  'robustness',
  'localisation',
  'complexity',
  'axiomatic',
];

export interface MetricInfo {
  id: string;
  title: string;
  family: MetricFamily;
  /** Which direction is better; 'none' for descriptive numbers (complexity) that rank nothing. */
  better: 'lower' | 'higher' | 'none';
}

/** One chunk of consecutive images (global positions `first`…) with one method's maps. */
export interface MetricChunk {
  model: tf.LayersModel;
  input: tf.Tensor4D;
  targets: number[];
  maps: Float32Array[];
  /** Global position of the chunk's first image in the seeded choice: seeds derive from it, not from the shard. */
  first: number;
  seed: number;
  steps: number;
  fill: number;
  /** The same method on another model (the randomised one), same inputs and targets. */
  reexplain(model: tf.LayersModel, input: tf.Tensor4D, targets: number[]): Promise<Float32Array[]>;
  /** The model with every weight re-drawn (seeded), cloned once per job. */
  randomised(): Promise<tf.LayersModel>;
  /** Images at positions below this get the randomisation test (it costs one more explanation). */
  sanityCount: number;
}

/** A metric computer: per-image values for several metric ids at once (NaN where not measured). */
export interface MetricComputer {
  metrics: MetricInfo[];
  compute(c: MetricChunk): Promise<Record<string, number[]>>;
}

export interface MetricSetOptions {
  road?: boolean;
  randomization?: boolean;
  roadFractions?: number[];
  roadNoise?: number;
  /** ROAD's pixel ranking: signed (most positive first, the default) or by |value|. */
  roadRank?: RankBy;
}

export const ROAD_FRACTIONS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

const deletionInsertionMetric: MetricComputer = {
  metrics: [
    { id: 'deletion', title: 'deletion AUC', family: 'faithfulness', better: 'lower' },
    { id: 'insertion', title: 'insertion AUC', family: 'faithfulness', better: 'higher' },
  ],
  async compute(c) {
    const deletion: number[] = [];
    const insertion: number[] = [];
    const images = tf.unstack(c.input) as tf.Tensor3D[];
    try {
      for (let k = 0; k < c.maps.length; k++) {
        const r = await deletionInsertion(c.model, images[k], c.targets[k], rankPixels(c.maps[k]), {
          steps: c.steps,
          fill: c.fill,
        });
        deletion.push(r.deletionAuc);
        insertion.push(r.insertionAuc);
      }
    } finally {
      tf.dispose(images);
    }
    return { deletion, insertion };
  },
};

function roadMetric(fractions: number[], noise: number, rank: RankBy): MetricComputer {
  return {
    metrics: [
      { id: 'road-morf', title: 'ROAD MoRF AUC', family: 'faithfulness', better: 'lower' },
      { id: 'road-lerf', title: 'ROAD LeRF AUC', family: 'faithfulness', better: 'higher' },
    ],
    async compute(c) {
      const r = await road(c.model, c.input, c.targets, c.maps, {
        fractions,
        noise,
        rank,
        seed: c.seed + c.first,
      });
      return {
        'road-morf': r.morf.map((y) => areaOver(fractions, y)),
        'road-lerf': r.lerf.map((y) => areaOver(fractions, y)),
      };
    },
  };
}

const randomisationMetric: MetricComputer = {
  metrics: [
    {
      id: 'randomisation-rho',
      title: 'model randomisation ρ',
      family: 'randomisation',
      better: 'lower',
    },
  ],
  async compute(c) {
    const n = Math.max(0, Math.min(c.maps.length, c.sanityCount - c.first));
    const out = new Array<number>(c.maps.length).fill(Number.NaN);
    if (n === 0) return { 'randomisation-rho': out };
    const x = tf.slice(c.input, [0, 0, 0, 0], [n, -1, -1, -1]) as tf.Tensor4D;
    try {
      const maps = await c.reexplain(await c.randomised(), x, c.targets.slice(0, n));
      for (let k = 0; k < n; k++) out[k] = spearman(c.maps[k], maps[k]);
    } finally {
      x.dispose();
    }
    return { 'randomisation-rho': out };
  },
};

/** Ids computed by this file's own computers: the registry's metrics of these ids are not run twice. */
const OWN = new Set([
  'deletion',
  'insertion',
  'road-morf',
  'road-lerf',
  'model-randomisation',
  'randomisation-rho',
]);

/**
 * A registry metric (core metrics/registry.ts) as a computer. Seeds follow the chunk's position, so a
 * shard's values equal the one-pass ones; digits get their stroke masks as localisation regions.
 */
export function registryComputer(m: Metric<any>): MetricComputer {
  return {
    metrics: [{ id: m.id, title: m.title, family: m.family, better: m.higherIsBetter ? 'higher' : 'lower' }],
    async compute(c) {
      const ctx: MetricContext = {
        input: c.input,
        targets: c.targets,
        maps: c.maps,
        model: c.model,
        fill: c.fill,
        seed: c.seed * 1_000_003 + c.first,
        ...(c.input.shape[3] === 1 ? { regions: await strokeMasks(c.input) } : {}),
        explain: async (req) => c.reexplain(req.model ?? c.model, req.input, req.targets),
      };
      if (!canRun(m, ctx)) return { [m.id]: c.maps.map(() => Number.NaN) };
      return { [m.id]: (await m.compute(ctx)).values };
    },
  };
}

/**
 * Registry metrics run by default: those costing at most two forward passes per image. The curve and
 * patch metrics (IROF, region perturbation, monotonicity, faithfulness correlation, infidelity: 20-50
 * forwards each) and the re-explaining ones (robustness, input invariance) are asked for by id or `all`.
 */
const DEFAULT_IDS = new Set([
  'average-drop',
  'increase-in-confidence',
  'sufficiency',
  'completeness',
  'pointing-game',
  'relevance-mass',
  'relevance-rank',
  'top-k-intersection',
  'sparseness',
  'complexity',
  'effective-complexity',
]);

/**
 * The registry metrics a job runs: the ids asked for, else the default cheap ones (`all`: every one
 * that needs no re-explanation), leaving out regions where the inputs have none (photos without boxes)
 * and ROAD unless asked.
 */
export function registryComputers(o: {
  ids?: string[];
  all?: boolean;
  road?: boolean;
  channels: number;
}): MetricComputer[] {
  const chosen = o.ids
    ? o.ids.map((id) => {
        const m = registryMetrics().find((x) => x.id === id);
        if (!m)
          throw new Error(
            `--metrics: unknown metric '${id}' (valid: ${registryMetrics()
              .map((x) => x.id)
              .join(', ')})`,
          );
        return m;
      })
    : registryMetrics().filter(
        (m) =>
          (o.all || DEFAULT_IDS.has(m.id)) &&
          !m.needs.explain &&
          (!m.needs.region || o.channels === 1) &&
          (m.id !== 'road' || o.road),
      );
  return chosen.filter((m) => !OWN.has(m.id)).map(registryComputer);
}

/** The metric computers of a job: deletion/insertion and the registry's always, ROAD and randomisation when asked. */
export function metricSet(
  o: MetricSetOptions & { ids?: string[]; all?: boolean; channels: number },
): MetricComputer[] {
  return [
    deletionInsertionMetric,
    ...(o.road
      ? [roadMetric(o.roadFractions ?? ROAD_FRACTIONS, o.roadNoise ?? 0.01, o.roadRank ?? 'signed')]
      : []),
    ...(o.randomization ? [randomisationMetric] : []),
    ...registryComputers(o),
  ];
}

/** Gaussian noise with each weight tensor's own standard deviation, every layer (the cascade's last step). */
export async function randomisedModel(model: tf.LayersModel, seed: number): Promise<tf.LayersModel> {
  const clone = await cloneModel(model);
  const rng = createRng(seed);
  for (const layer of clone.layers) {
    if (layer.weights.length > 0) randomizeLayer(layer, rng);
  }
  return clone;
}
