/**
 * The faithfulness job: every explanation method (× candidate layer where it needs one) and the
 * controls (a random map, and every method the registry marks as a control) on a seeded random choice
 * of a dataset's images, scored per image by every metric of faithfulness-metrics.ts, summarised as a
 * table of families with each method's time per image, ranked (method-ranking.ts), and written as
 * JSON and Markdown. Images go in chunks of consecutive positions of the seeded choice; a shard takes
 * every n-th chunk and writes its raw per-image values, so a merge reproduces the one-pass table.
 */
import { join } from 'node:path';
import { batchIterator } from '@convlens/core/data/batches';
import { createRng, permutation } from '@convlens/core/data/rng';
import { tf } from '@convlens/core/engine/backend';
import { modelFingerprint } from '@convlens/core/inspect/fingerprint';
import { checkStop, type JobHooks } from '@convlens/core/jobs/job';
import { explainMethods } from '@convlens/core/methods/explain/registry';
import type { ExplainMethod } from '@convlens/core/methods/explain/types';
import { randomOrder } from '@convlens/core/methods/faithfulness/deletion-insertion';
import { predictedClasses } from '@convlens/core/methods/faithfulness/table';
import type { RankBy } from '@convlens/core/metrics/common';
import { shardRange } from '@convlens/core/stats/dataset-stats';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import type { OpenedDataset } from '../open/open-dataset.ts';
import type { OpenedModel } from '../open/open-model.ts';
import {
  type FaithfulnessRaw,
  type FamilyTable,
  familyTable,
  type RawEntry,
} from './faithfulness-families.ts';
import { formatFaithfulnessMarkdown } from './faithfulness-format.ts';
import { type MetricComputer, metricSet, ROAD_FRACTIONS, randomisedModel } from './faithfulness-metrics.ts';
import { type MethodRanking, rankMethods } from './method-ranking.ts';
import type { Shard } from './shard.ts';

export interface FaithfulnessOptions {
  /** 'all' records a failing method's error in its row; named methods must work. */
  methods: ExplainMethod[] | 'all';
  /** Record a named method's error in its row instead of stopping (as 'all' does). */
  keepGoing?: boolean;
  /** Controls besides the random map (default: the registry's methods marked `control`). */
  controls?: ExplainMethod[];
  /** Inputs: a seeded random choice of the dataset's images. */
  count: number;
  /** Deletion/insertion curve steps (default 20). */
  steps?: number;
  /** Seed of the choice of inputs, of the random map and of the randomised model (default 1). */
  seed?: number;
  road?: boolean;
  /** ROAD's pixel ranking (default signed: most positive first; abs: strong negative evidence too). */
  roadRank?: RankBy;
  randomization?: boolean;
  /** Images (the first positions of the choice) that get the randomisation test (default 16). */
  sanityCount?: number;
  /** Layer for layer-based methods (default: each method's own choice). */
  layer?: string;
  /** Several layers for layer-based methods: one table entry per method × layer. */
  layers?: string[];
  /** Images per explanation call and per shard unit (default 16). */
  chunk?: number;
  /** Run only this shard's chunks (a contiguous run of them) and return its raw values. */
  shard?: Shard;
  /** Write faithfulness.json and faithfulness.md here (a shard: its partial). */
  out?: string;
  /** A finished result for this key (a shard's partial on disk): returned instead of recomputing. */
  reuse?: (key: FaithfulnessKey, shard: Shard) => Promise<FaithfulnessShardResult | undefined>;
  /** Registry metrics to run (default: the cheap ones; ['all']: every one that needs no re-explanation). */
  metricIds?: string[];
  /** Extra metric computers (beyond deletion/insertion, ROAD, randomisation, complexity). */
  metrics?: MetricComputer[];
}

/** Everything that must match for two shards to merge (and for a finished partial to be reused). */
export interface FaithfulnessKey {
  model: string;
  modelFingerprint: string;
  dataset: string;
  /** What the inputs are, e.g. "mnist test split (10,000 images)". */
  set: string;
  datasetCount: number;
  count: number;
  steps: number;
  fill: number;
  seed: number;
  chunk: number;
  sanityCount: number;
  road?: { fractions: number[]; noise: number; rank: RankBy };
  entries: string[];
  metricIds: string[];
}

export interface FaithfulnessReport extends FaithfulnessKey, FamilyTable, MethodRanking {
  date: string;
  /** Images scored (readable ones of the choice). */
  scored: number;
  indices: number[];
  sources: string[];
  targets: number[];
  /** Accuracy of the model on the inputs, when the dataset is labelled (targets are its predictions). */
  accuracy?: number;
  seconds: number;
  /** Shards merged into this report, when it came from a merge. */
  shards?: number;
  raw: FaithfulnessRaw;
}

export interface FaithfulnessShardResult {
  key: FaithfulnessKey;
  shard: Shard;
  raw: FaithfulnessRaw;
  seconds: number;
}

/** A model-free control: a seeded random map per image (the random pixel order of deletion/insertion). */
function randomMapControl(seed: number, indexOf: (k: number) => number): ExplainMethod {
  return {
    id: 'random',
    title: 'random map (control)',
    description: 'A seeded random ranking of the pixels: the baseline every method must beat.',
    needsLayer: false,
    async explain({ input, target }) {
      const [N, H, W] = input.shape;
      const maps = Array.from({ length: N }, (_, k) => {
        const order = randomOrder(H * W, seed * 1_000_003 + indexOf(k));
        const m = new Float32Array(H * W);
        order.forEach((p, r) => {
          m[p] = H * W - r;
        });
        return m;
      });
      const targets = Array.isArray(target) ? target : new Array(N).fill(target);
      return { method: 'random', maps, height: H, width: W, signed: false, targets, warnings: [], meta: {} };
    },
  };
}

const isControl = (m: ExplainMethod) => (m as { control?: boolean }).control === true;

/**
 * Candidate layers of layer-based methods: the last layer of each of the last `n` spatial resolutions
 * (e.g. MobileNet's 7×7 and 14×14 ends), the default layer first.
 */
export function candidateLayers(model: tf.LayersModel, n = 2): string[] {
  const out: string[] = [];
  let size = '';
  const skip = new Set(['Dropout', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);
  for (const l of [...model.layers].reverse()) {
    const s = l.outputShape as number[];
    if (!Array.isArray(s) || s.length !== 4 || !(s[1] > 1 && s[2] > 1) || skip.has(l.getClassName()))
      continue;
    const here = `${s[1]}x${s[2]}`;
    if (here === size) continue;
    size = here;
    out.push(l.name);
    if (out.length === n) break;
  }
  return out;
}

interface Entry {
  key: string;
  method: ExplainMethod;
  layer?: string;
  control: boolean;
}

function entriesOf(
  methods: ExplainMethod[],
  controls: ExplainMethod[],
  layers: (string | undefined)[],
): Entry[] {
  const out: Entry[] = [];
  for (const [list, control] of [
    [controls, true],
    [methods, false],
  ] as const)
    for (const m of list)
      for (const layer of m.needsLayer ? layers : [undefined])
        out.push({
          key: layer ? `${m.id}@${layer}` : m.id,
          method: m,
          layer,
          control: control || isControl(m),
        });
  return out;
}

/** Positions of chunk c of `count` images. */
const chunkPositions = (c: number, size: number, count: number) =>
  Array.from({ length: Math.min(size, count - c * size) }, (_, k) => c * size + k);

/**
 * Scores the chosen images (or one shard's chunks of them). Returns the shard result; the one-pass
 * report is built by `faithfulness` below from the same raw values a merge would see.
 */
export async function faithfulnessRaw(
  model: OpenedModel,
  data: OpenedDataset,
  o: FaithfulnessOptions,
  hooks: JobHooks = {},
): Promise<FaithfulnessShardResult> {
  if (!(Number.isInteger(o.count) && o.count > 0))
    throw new Error(`--count must be a positive integer, got '${o.count}'`);
  const chunk = o.chunk ?? 16;
  if (!(Number.isInteger(chunk) && chunk > 0))
    throw new Error(`chunk must be a positive integer, got ${chunk}`);
  const t0 = performance.now();
  const seed = o.seed ?? 1;
  const steps = o.steps ?? 20;
  const fill = 0;
  const sanityCount = o.randomization ? (o.sanityCount ?? 16) : 0;
  let count = o.count;
  if (count > data.count) {
    hooks.log?.(`notice: --count ${count} but ${data.description} has ${data.count}; using all of them`);
    count = data.count;
  }
  const chosen = permutation(data.count, createRng(seed)).subarray(0, count);
  const methods = (o.methods === 'all' ? explainMethods() : o.methods).filter((m) => !isControl(m));
  const controls = [randomMapControl(seed, () => 0), ...(o.controls ?? explainMethods().filter(isControl))];
  const layers = o.layers?.length ? o.layers : [o.layer];
  const entries = entriesOf(methods, controls, layers);
  const computers = [
    ...metricSet({
      road: o.road,
      roadRank: o.roadRank,
      randomization: o.randomization,
      ids: o.metricIds?.[0] === 'all' ? undefined : o.metricIds,
      all: o.metricIds?.[0] === 'all',
      channels: model.inputShape[2],
    }),
    ...(o.metrics ?? []),
  ];
  const metrics = computers.flatMap((c) => c.metrics);
  const key: FaithfulnessKey = {
    model: model.source,
    modelFingerprint: modelFingerprintOf(model),
    dataset: data.name,
    set: data.description,
    datasetCount: data.count,
    count,
    steps,
    fill,
    seed,
    chunk,
    sanityCount,
    ...(o.road ? { road: { fractions: ROAD_FRACTIONS, noise: 0.01, rank: o.roadRank ?? 'signed' } } : {}),
    entries: entries.map((e) => e.key),
    metricIds: metrics.map((m) => m.id),
  };
  const shard = o.shard ?? { index: 0, count: 1 };
  const done0 = await o.reuse?.(key, shard);
  if (done0) {
    hooks.log?.(`faithfulness: shard ${shard.index + 1}/${shard.count} already finished; not recomputed`);
    return done0;
  }
  const chunks = Math.ceil(count / chunk);
  // A shard is a contiguous run of whole chunks: each image meets the same batch as in one pass.
  const [c0, c1] = shardRange(chunks, shard.index, shard.count);
  const mine = Array.from({ length: c1 - c0 }, (_, k) => c0 + k);
  hooks.log?.(
    `faithfulness of ${entries.length} method × layer entries (${controls.length} control(s)) on ${count} images of ${data.description}` +
      `${shard.count > 1 ? `, shard ${shard.index + 1}/${shard.count} (${mine.length} of ${chunks} chunks)` : ''}` +
      `${o.road ? ', with ROAD' : ''}${o.randomization ? `, randomisation test on ${sanityCount}` : ''}`,
  );

  const raw: FaithfulnessRaw = {
    metrics,
    positions: [],
    indices: [],
    sources: [],
    targets: [],
    ...(data.labelled ? { labels: [] } : {}),
    entries: entries.map((e) => ({
      key: e.key,
      method: e.method.id,
      title: e.method.title,
      ...(e.layer ? { layer: e.layer } : {}),
      control: e.control,
      warnings: 0,
      values: Object.fromEntries(metrics.map((m) => [m.id, []])),
      ms: [],
    })),
  };
  const [H, W, C] = model.inputShape;
  let randomised: tf.LayersModel | undefined;
  const total = mine.length * entries.length;
  let done = 0;
  try {
    for (const c of mine) {
      const positions = chunkPositions(c, chunk, count);
      const read = await data.read(positions.map((p) => chosen[p]));
      const keep = Array.from(read.indices);
      const pos = keep.map((i) => positions[positions.findIndex((p) => chosen[p] === i)]);
      const n = keep.length;
      if (n === 0) {
        done += entries.length;
        continue;
      }
      const batch = batchIterator(read.set, undefined, n, { preprocess: model.preprocess }).next().value!;
      const x = tf.tensor4d(batch.x, [n, H, W, C]);
      try {
        const targets = await predictedClasses(model.model, x);
        raw.positions.push(...pos);
        raw.indices.push(...keep);
        raw.sources.push(...keep.map((i) => data.source(i)));
        raw.targets.push(...targets);
        raw.labels?.push(...keep.map((_, k) => read.set.labels[k] ?? null));
        for (const [j, e] of entries.entries()) {
          checkStop(hooks, 'faithfulness');
          const r = raw.entries[j];
          if (r.error) {
            pushNaN(r, n);
          } else {
            try {
              await scoreChunk(e, r, {
                model,
                x,
                targets,
                first: pos[0],
                keep,
                seed,
                steps,
                fill,
                sanityCount,
              });
            } catch (err: any) {
              if (o.methods !== 'all' && !o.keepGoing && !e.control) throw err;
              r.error = String(err?.message ?? err).split('\n')[0];
              pushNaN(r, n);
            }
          }
          hooks.onProgress?.(++done, total, { method: e.key });
          await new Promise<void>((res) => setTimeout(res, 0));
        }
      } finally {
        x.dispose();
      }
    }
  } finally {
    randomised?.dispose();
  }
  return { key, shard, raw, seconds: (performance.now() - t0) / 1000 };

  async function scoreChunk(
    e: Entry,
    r: RawEntry,
    s: {
      model: OpenedModel;
      x: tf.Tensor4D;
      targets: number[];
      first: number;
      keep: number[];
      seed: number;
      steps: number;
      fill: number;
      sanityCount: number;
    },
  ) {
    const method = e.method.id === 'random' ? randomMapControl(seed, (k) => s.keep[k]) : e.method;
    const run = (m: tf.LayersModel, input: tf.Tensor4D, target: number[]) =>
      method.explain({ model: m, input, target, layer: e.layer });
    const t1 = performance.now();
    const ex = await run(s.model.model, s.x, s.targets);
    const ms = (performance.now() - t1) / s.keep.length;
    r.warnings += ex.warnings.filter((w) => w?.length).length;
    // NaN pixels would rank arbitrarily: they count as no relevance.
    const maps = ex.maps.map((m) => (m.some(Number.isNaN) ? m.map((v) => (Number.isNaN(v) ? 0 : v)) : m));
    r.ms.push(...s.keep.map(() => (e.method.id === 'random' ? null : ms)));
    for (const comp of computers) {
      const vals = await comp.compute({
        model: s.model.model,
        input: s.x,
        targets: s.targets,
        maps,
        first: s.first,
        seed: s.seed,
        steps: s.steps,
        fill: s.fill,
        sanityCount: s.sanityCount,
        reexplain: async (m, input, target) => (await run(m, input, target)).maps,
        randomised: async () => {
          randomised ??= await randomisedModel(s.model.model, s.seed);
          return randomised;
        },
      });
      for (const m of comp.metrics)
        r.values[m.id].push(...(vals[m.id] ?? []).map((v) => (Number.isFinite(v) ? v : null)));
    }
  }
}

function pushNaN(r: RawEntry, n: number) {
  for (const id of Object.keys(r.values)) r.values[id].push(...new Array(n).fill(null));
  r.ms.push(...new Array(n).fill(null));
}

const fingerprints = new WeakMap<tf.LayersModel, string>();
function modelFingerprintOf(model: OpenedModel): string {
  let f = fingerprints.get(model.model);
  if (!f) {
    f = modelFingerprint(model.model);
    fingerprints.set(model.model, f);
  }
  return f;
}

/** The report from raw values in position order (one pass, or shards merged). */
export function faithfulnessReport(
  key: FaithfulnessKey,
  raw: FaithfulnessRaw,
  seconds: number,
  shards?: number,
): FaithfulnessReport {
  const table = familyTable(raw);
  const ranking = rankMethods(table);
  const n = raw.positions.length;
  const correct = raw.labels ? raw.labels.filter((l, k) => l === raw.targets[k]).length : 0;
  return {
    date: new Date().toISOString(),
    ...key,
    scored: n,
    indices: raw.indices,
    sources: raw.sources,
    targets: raw.targets,
    ...(raw.labels && n ? { accuracy: correct / n } : {}),
    seconds,
    ...(shards ? { shards } : {}),
    ...table,
    ...ranking,
    raw,
  };
}

export async function faithfulness(
  model: OpenedModel,
  data: OpenedDataset,
  o: FaithfulnessOptions,
  hooks: JobHooks = {},
): Promise<FaithfulnessReport> {
  const r = await faithfulnessRaw(model, data, { ...o, shard: undefined }, hooks);
  if (r.raw.positions.length === 0)
    throw new Error(`${data.name}: none of the ${r.key.count} chosen images could be read`);
  const report = faithfulnessReport(r.key, r.raw, r.seconds);
  if (o.out) await writeFaithfulness(o.out, report);
  return report;
}

export async function writeFaithfulness(out: string, report: FaithfulnessReport): Promise<void> {
  await writeJsonAtomic(join(out, 'faithfulness.json'), report);
  await writeFileAtomic(join(out, 'faithfulness.md'), formatFaithfulnessMarkdown(report));
}

export { faithfulnessLegend, faithfulnessRows, formatFaithfulnessMarkdown } from './faithfulness-format.ts';
