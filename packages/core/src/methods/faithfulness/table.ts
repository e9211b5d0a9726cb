/**
 * The faithfulness table: every method's maps for the same inputs and targets, scored by deletion
 * and insertion AUC against a random pixel order, optionally by ROAD (MoRF/LeRF with imputation)
 * and by the model randomization sanity check. One function so the CLI, the lab report and the
 * explorer compare methods the same way.
 */
import * as tf from '@tensorflow/tfjs';
import type { ExplainMethod } from '../explain/types.ts';
import { deletionInsertion, randomOrder, rankPixels } from './deletion-insertion.ts';
import { type RandomizationStep, randomizationCheck } from './randomization.ts';
import { areaOver, type RoadOptions, road } from './road.ts';

export interface FaithfulnessOptions {
  /** Deletion/insertion curve points (default 20). */
  steps?: number;
  /** Value of deleted pixels in the model's input space (default 0). */
  fill?: number;
  /** Seed of the random-order baseline, ROAD noise and the randomization check (default 1). */
  seed?: number;
  /** Targets per input (default: the model's predicted class). */
  targets?: number[];
  /** Run ROAD too (default off). */
  road?: boolean | Omit<RoadOptions, 'seed'>;
  /** Run the model randomization check on the first `count` inputs (default 16) too (default off). */
  randomization?: boolean | { count?: number; threshold?: number };
  /** Layer for layer-based methods (default: each method's own choice). */
  layer?: string;
  /** Options per method id, passed through to the method. */
  methodOptions?: Record<string, Record<string, unknown>>;
  /** Images per forward pass of the curves (default 64). */
  batch?: number;
  /** Inputs per explanation call (default 32): bounds the memory of sampling methods. */
  explainBatch?: number;
  /** Throw on a method's error instead of recording it in its row (default false). */
  stopOnError?: boolean;
  /** Called after each chunk of inputs: inputs done so far over the random baseline and every method, and the total. */
  onProgress?: (p: { method: string; done: number; total: number }) => void;
}

export interface RoadSummary {
  /** Mean target score over inputs per fraction. */
  meanMorf: number[];
  meanLerf: number[];
  /** Lower is better. */
  morfAuc: number;
  /** Higher is better. */
  lerfAuc: number;
  /** lerfAuc − morfAuc: higher is better. */
  gap: number;
}

export interface FaithfulnessRow {
  method: string;
  title: string;
  layer?: string;
  /** Mean deletion AUC over inputs (lower is better). */
  deletionAuc: number;
  /** Mean insertion AUC over inputs (higher is better). */
  insertionAuc: number;
  /** insertionAuc − deletionAuc: the table's sort key. */
  score: number;
  road?: RoadSummary;
  sanity?: {
    /** Mean Spearman ρ with the original maps once every layer is randomized (NaN: all maps constant). */
    correlation: number;
    /** The maps barely changed: the method does not depend on what the model learned. */
    flagged: boolean;
    steps: RandomizationStep[];
  };
  /** Inputs whose map came with a warning (all-zero, NaN, constant layer, …). */
  warnings: number;
  /** Explanation time per input, milliseconds. */
  msPerInput: number;
  error?: string;
}

export interface FaithfulnessTable {
  count: number;
  steps: number;
  fill: number;
  seed: number;
  targets: number[];
  /** The baseline every method should beat: random pixel orders (and random maps for ROAD). */
  random: { deletionAuc: number; insertionAuc: number; road?: RoadSummary };
  road?: { fractions: number[]; noise: number };
  /** Sorted by score, best first; failed methods last. */
  rows: FaithfulnessRow[];
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

/** Concatenates ROAD results of input chunks into one summary over all inputs. */
function roadSummary(chunks: { morf: number[][]; lerf: number[][] }[], fractions: number[]): RoadSummary {
  const morf = chunks.flatMap((c) => c.morf);
  const lerf = chunks.flatMap((c) => c.lerf);
  const meanMorf = fractions.map((_, j) => mean(morf.map((r) => r[j])));
  const meanLerf = fractions.map((_, j) => mean(lerf.map((r) => r[j])));
  const morfAuc = areaOver(fractions, meanMorf);
  const lerfAuc = areaOver(fractions, meanLerf);
  return { meanMorf, meanLerf, morfAuc, lerfAuc, gap: lerfAuc - morfAuc };
}

/** Rows of [start, end) input ranges of at most `size`. */
function chunks(n: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += size) out.push([s, Math.min(n, s + size)]);
  return out;
}

/**
 * The wasm backend's reads resolve as microtasks, so a long table would never let timers run
 * (progress bars, a browser's repaint): give the event loop a turn after each chunk.
 */
const yieldToEventLoop = () => new Promise<void>((r) => setTimeout(r, 0));

/** The model's top class per input, in batches. */
export async function predictedClasses(
  model: tf.LayersModel,
  input: tf.Tensor4D,
  batch = 64,
): Promise<number[]> {
  const out: number[] = [];
  for (const [s, e] of chunks(input.shape[0], batch)) {
    const c = tf.tidy(() =>
      tf.argMax(model.predict(tf.slice(input, [s, 0, 0, 0], [e - s, -1, -1, -1])) as tf.Tensor2D, 1),
    );
    out.push(...(await c.data()));
    c.dispose();
  }
  return out;
}

/**
 * Scores each method's maps of `input` [N, H, W, C] (not disposed). Deletion/insertion use one
 * random order per input for the baseline; ROAD and the sanity check run only when asked for.
 */
export async function faithfulnessTable(
  model: tf.LayersModel,
  input: tf.Tensor4D,
  methods: ExplainMethod<any>[],
  opts: FaithfulnessOptions = {},
): Promise<FaithfulnessTable> {
  const [N, H, W] = input.shape;
  const steps = opts.steps ?? 20;
  const fill = opts.fill ?? 0;
  const seed = opts.seed ?? 1;
  const batch = opts.batch ?? 64;
  const explainBatch = opts.explainBatch ?? 32;
  if (N < 1) throw new Error('faithfulness needs at least one input');
  if (!(Number.isInteger(explainBatch) && explainBatch >= 1))
    throw new Error(`explainBatch must be a positive integer, got ${explainBatch}`);
  const roadOpts = opts.road ? (opts.road === true ? {} : opts.road) : undefined;
  const fractions = roadOpts?.fractions ?? [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
  const noise = roadOpts?.noise ?? 0.01;
  const randOpts = opts.randomization ? (opts.randomization === true ? {} : opts.randomization) : undefined;

  const targets = opts.targets ?? (await predictedClasses(model, input, batch));
  if (targets.length !== N) throw new Error(`${targets.length} targets for ${N} inputs`);

  // Per-input images for the curves, read once.
  const images = tf.tidy(() => tf.unstack(input) as tf.Tensor3D[]);
  // The random baseline counts as one more method: it costs as much as one.
  const total = (methods.length + 1) * N;
  let done = 0;
  try {
    const curves = async (i: number, order: Uint32Array) =>
      deletionInsertion(model, images[i], targets[i], order, { steps, fill, batch });

    // The random baseline: one seeded order per input.
    const randDel: number[] = [];
    const randIns: number[] = [];
    const randomMaps: Float32Array[] = [];
    for (let i = 0; i < N; i++) {
      const order = randomOrder(H * W, seed * 1_000_003 + i);
      const c = await curves(i, order);
      randDel.push(c.deletionAuc);
      randIns.push(c.insertionAuc);
      // A random map whose ranking is that order (first = most relevant).
      const m = new Float32Array(H * W);
      order.forEach((p, k) => {
        m[p] = H * W - k;
      });
      randomMaps.push(m);
      if ((i + 1) % explainBatch === 0 || i === N - 1) {
        done = i + 1;
        opts.onProgress?.({ method: 'random order', done, total });
        await yieldToEventLoop();
      }
    }
    const runRoad = async (maps: Float32Array[]) => {
      const parts = [];
      for (const [s, e] of chunks(N, explainBatch)) {
        const x = tf.slice(input, [s, 0, 0, 0], [e - s, -1, -1, -1]);
        try {
          parts.push(
            await road(model, x, targets.slice(s, e), maps.slice(s, e), {
              fractions,
              noise,
              seed: seed + s,
              batch,
            }),
          );
        } finally {
          x.dispose();
        }
      }
      return roadSummary(parts, fractions);
    };
    const random = {
      deletionAuc: mean(randDel),
      insertionAuc: mean(randIns),
      road: roadOpts ? await runRoad(randomMaps) : undefined,
    };

    const rows: FaithfulnessRow[] = [];
    for (const method of methods) {
      const options = opts.methodOptions?.[method.id];
      const layer = method.needsLayer ? opts.layer : undefined;
      const del: number[] = [];
      const ins: number[] = [];
      const maps: Float32Array[] = [];
      let warnings = 0;
      let usedLayer: string | undefined;
      let explainMs = 0;
      try {
        for (const [s, e] of chunks(N, explainBatch)) {
          const x = tf.slice(input, [s, 0, 0, 0], [e - s, -1, -1, -1]) as tf.Tensor4D;
          const t0 = performance.now();
          let ex: Awaited<ReturnType<typeof method.explain>>;
          try {
            ex = await method.explain({ model, input: x, target: targets.slice(s, e), layer, options });
          } finally {
            x.dispose();
          }
          explainMs += performance.now() - t0;
          usedLayer = ex.layer;
          for (let k = 0; k < ex.maps.length; k++) {
            const m = ex.maps[k];
            if (ex.warnings[k]?.length) warnings++;
            // NaN would sort arbitrarily: rank NaN pixels last.
            const clean = m.some(Number.isNaN) ? m.map((v) => (Number.isNaN(v) ? -Infinity : v)) : m;
            const c = await curves(s + k, rankPixels(clean));
            del.push(c.deletionAuc);
            ins.push(c.insertionAuc);
            maps.push(clean);
          }
          done += e - s;
          opts.onProgress?.({ method: method.id, done, total });
          await yieldToEventLoop();
        }
        const row: FaithfulnessRow = {
          method: method.id,
          title: method.title,
          layer: usedLayer,
          deletionAuc: mean(del),
          insertionAuc: mean(ins),
          score: mean(ins) - mean(del),
          warnings,
          msPerInput: explainMs / N,
        };
        if (roadOpts) row.road = await runRoad(maps);
        if (randOpts) {
          const n = Math.min(N, randOpts.count ?? 16);
          const x = tf.slice(input, [0, 0, 0, 0], [n, -1, -1, -1]) as tf.Tensor4D;
          try {
            const r = await randomizationCheck(
              method,
              { model, input: x, target: targets.slice(0, n), layer, options },
              { seed, threshold: randOpts.threshold },
            );
            row.sanity = {
              correlation: r.steps.at(-1)?.correlation ?? Number.NaN,
              flagged: r.flagged,
              steps: r.steps,
            };
          } finally {
            x.dispose();
          }
        }
        rows.push(row);
      } catch (err: any) {
        if (opts.stopOnError) throw err;
        done = (rows.length + 2) * N;
        rows.push({
          method: method.id,
          title: method.title,
          deletionAuc: Number.NaN,
          insertionAuc: Number.NaN,
          score: Number.NaN,
          warnings,
          msPerInput: Number.NaN,
          error: String(err?.message ?? err).split('\n')[0],
        });
        opts.onProgress?.({ method: method.id, done, total });
      }
    }
    rows.sort(
      (a, b) => (Number.isNaN(a.score) ? 1 : 0) - (Number.isNaN(b.score) ? 1 : 0) || b.score - a.score,
    );
    return {
      count: N,
      steps,
      fill,
      seed,
      targets,
      random,
      road: roadOpts ? { fractions, noise } : undefined,
      rows,
    };
  } finally {
    tf.dispose(images);
  }
}
