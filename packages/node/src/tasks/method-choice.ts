/**
 * `explain --method auto`, for the CLI, the lab and the server: rank every method × candidate layer on
 * the user's model and a small seeded held-out sample by the metric families against the controls
 * (the faithfulness job on few images and cheap metrics), say where the metrics disagree, and pick the
 * default map with its reason. The ranking is cached beside the model run, keyed by the model's
 * fingerprint and the options, so a second call costs one file read.
 */
import { createHash } from 'node:crypto';
import { access, constants, readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { modelFingerprint } from '@convlens/core/inspect/fingerprint';
import type { JobHooks } from '@convlens/core/jobs/job';
import { explainMethods } from '@convlens/core/methods/explain/registry';
import type { ExplainMethod } from '@convlens/core/methods/explain/types';
import { writeJsonAtomic } from '../io/atomic.ts';
import { ensureDir } from '../io/ensure-dir.ts';
import type { OpenedDataset } from '../open/open-dataset.ts';
import type { OpenedModel } from '../open/open-model.ts';
import { candidateLayers, faithfulness } from './faithfulness.ts';
import type { FamilyRow } from './faithfulness-families.ts';
import type { MetricInfo } from './faithfulness-metrics.ts';
import { isBig } from './layer-choice.ts';
import type { MethodChoice } from './method-ranking.ts';

export interface AutoRankOptions {
  /** Held-out images ranked on (default 16; 4 on a big model such as an ImageNet one). */
  sample?: number;
  seed?: number;
  /** Deletion/insertion steps (default 10). */
  steps?: number;
  /** Methods to rank (default: every registered one; the controls always). */
  methods?: ExplainMethod[];
  /** Candidate layers of layer-based methods (default: the last layer of each of the last two resolutions). */
  layers?: string[];
  /** Registry metrics besides deletion, insertion and randomisation (default: sparseness). */
  metricIds?: string[];
  /** Where the ranking is cached (default: beside the run or model, else ~/.cache/convlens). */
  cacheDir?: string;
  /** Recompute even when cached. */
  force?: boolean;
}

export interface AutoRanking {
  model: string;
  modelFingerprint: string;
  dataset: string;
  set: string;
  sample: number;
  seed: number;
  date: string;
  seconds: number;
  metrics: MetricInfo[];
  families: { family: string; metrics: string[] }[];
  controls: string[];
  /** Every entry, controls included, ranked (trusted first). */
  rows: FamilyRow[];
  disagreements: string[];
  choice?: MethodChoice;
  /** Where the ranking is cached; `cached` when this call read it from there. */
  cacheFile: string;
  cached?: boolean;
}

async function writable(dir: string): Promise<boolean> {
  return access(dir, constants.W_OK).then(
    () => true,
    () => false,
  );
}

/** The cache folder: the run's folder, else the model's own folder when writable, else the user cache. */
export async function rankingCacheDir(model: OpenedModel, override?: string): Promise<string> {
  if (override) return override;
  const beside = model.run?.dir ?? model.modelDir;
  if (beside && (await writable(beside))) return join(beside, 'method-ranking');
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'convlens', 'method-ranking');
}

export async function rankForModel(
  model: OpenedModel,
  data: OpenedDataset,
  o: AutoRankOptions = {},
  hooks: JobHooks = {},
): Promise<AutoRanking> {
  const sample = o.sample ?? (isBig(model) ? 4 : 16);
  const seed = o.seed ?? 1;
  const steps = o.steps ?? 10;
  const methods = (o.methods ?? explainMethods()).filter((m) => !(m as { control?: boolean }).control);
  const layers = o.layers ?? candidateLayers(model.model);
  const metricIds = o.metricIds ?? ['sparseness'];
  const fp = modelFingerprint(model.model);
  const options = {
    sample,
    seed,
    steps,
    methods: methods.map((m) => m.id),
    layers,
    metricIds,
    dataset: data.name,
    datasetCount: data.count,
  };
  const hash = createHash('sha256').update(JSON.stringify(options)).digest('hex').slice(0, 12);
  const dir = await rankingCacheDir(model, o.cacheDir);
  const cacheFile = join(dir, `${fp}-${hash}.json`);
  if (!o.force) {
    const hit = await readFile(cacheFile, 'utf8')
      .then((t) => JSON.parse(t) as AutoRanking)
      .catch(() => undefined);
    if (hit?.modelFingerprint === fp) {
      hooks.log?.(`auto: ranking read from ${cacheFile}`);
      return { ...hit, cacheFile, cached: true };
    }
  }
  const r = await faithfulness(
    model,
    data,
    {
      methods,
      count: sample,
      seed,
      steps,
      layers,
      randomization: true,
      sanityCount: sample,
      metricIds,
      chunk: sample,
      keepGoing: true,
    },
    hooks,
  );
  const order = new Map(r.ranking.map((row, i) => [row.key, i]));
  const rows = [...r.rows].sort((a, b) => (order.get(a.key) ?? 1e9) - (order.get(b.key) ?? 1e9));
  const out: AutoRanking = {
    model: model.source,
    modelFingerprint: fp,
    dataset: data.name,
    set: data.description,
    sample: r.scored,
    seed,
    date: r.date,
    seconds: r.seconds,
    metrics: r.metrics,
    families: r.families,
    controls: r.controls,
    rows,
    disagreements: r.disagreements,
    ...(r.choice ? { choice: r.choice } : {}),
    cacheFile,
  };
  await ensureDir(dir, 'ranking cache');
  await writeJsonAtomic(cacheFile, out);
  return out;
}

/** The newest cached ranking in `dir` (a run's method-ranking folder), for the server; undefined if none. */
export async function latestRanking(dir: string): Promise<AutoRanking | undefined> {
  const files = await readdir(dir).catch(() => [] as string[]);
  let best: AutoRanking | undefined;
  for (const f of files.filter((x) => x.endsWith('.json'))) {
    const r = await readFile(join(dir, f), 'utf8')
      .then((t) => JSON.parse(t) as AutoRanking)
      .catch(() => undefined);
    if (r?.rows && (!best || r.date > best.date)) best = r;
  }
  return best;
}
