/**
 * The faithfulness job: how faithful each explanation method is for any model on a seeded random choice
 * of any dataset's images — deletion and insertion AUC against random pixel orders, optionally ROAD and
 * the model randomization sanity check — as one table sorted best first (core faithfulnessTable),
 * written as JSON and Markdown when asked.
 */
import { join } from 'node:path';
import { batchIterator } from '@convlens/core/data/batches';
import { createRng, permutation } from '@convlens/core/data/rng';
import { tf } from '@convlens/core/engine/backend';
import { type JobHooks, JobStopped } from '@convlens/core/jobs/job';
import { explainMethods } from '@convlens/core/methods/explain/registry';
import type { ExplainMethod } from '@convlens/core/methods/explain/types';
import { type FaithfulnessTable, faithfulnessTable } from '@convlens/core/methods/faithfulness/table';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import type { OpenedDataset } from '../open/open-dataset.ts';
import type { OpenedModel } from '../open/open-model.ts';

export interface FaithfulnessOptions {
  /** 'all' records a failing method's error in its row; named methods must work. */
  methods: ExplainMethod[] | 'all';
  /** Inputs: a seeded random choice of the dataset's images. */
  count: number;
  /** Deletion/insertion curve steps (default 20). */
  steps?: number;
  /** Seed of the choice of inputs and of the random baselines (default 1). */
  seed?: number;
  road?: boolean;
  randomization?: boolean;
  layer?: string;
  /** Write faithfulness.json and faithfulness.md here. */
  out?: string;
}

export interface FaithfulnessReport extends FaithfulnessTable {
  date: string;
  model: string;
  dataset: string;
  /** What the inputs are, e.g. "mnist test split (10,000 images)". */
  set: string;
  /** Dataset indices of the inputs (a seeded random choice; unreadable images left out). */
  indices: number[];
  /** Files or dataset names of the inputs. */
  sources: string[];
  /** Accuracy of the model on the inputs, when the dataset is labelled (targets are its predictions). */
  accuracy?: number;
  seconds: number;
}

export async function faithfulness(
  model: OpenedModel,
  data: OpenedDataset,
  o: FaithfulnessOptions,
  hooks: JobHooks = {},
): Promise<FaithfulnessReport> {
  if (!(Number.isInteger(o.count) && o.count > 0))
    throw new Error(`--count must be a positive integer, got '${o.count}'`);
  const methods = o.methods === 'all' ? explainMethods() : o.methods;
  const seed = o.seed ?? 1;
  const t0 = performance.now();
  let count = o.count;
  if (count > data.count) {
    hooks.log?.(`notice: --count ${count} but ${data.description} has ${data.count}; using all of them`);
    count = data.count;
  }
  const chosen = permutation(data.count, createRng(seed)).subarray(0, count);
  const chunk = await data.read(chosen);
  const n = chunk.set.count;
  if (n === 0) throw new Error(`${data.name}: none of the ${count} chosen images could be read`);
  const [h, w, c] = model.inputShape;
  const batch = batchIterator(chunk.set, undefined, n, { preprocess: model.preprocess }).next().value!;
  const x = tf.tensor4d(batch.x, [n, h, w, c]);
  hooks.log?.(
    `faithfulness of ${methods.length} method(s) on ${n} images of ${data.description}` +
      `${o.road ? ', with ROAD' : ''}${o.randomization ? ', with the randomization check' : ''}`,
  );
  // faithfulnessTable has no stop hook: a stop request throws from its progress callback, which ends the
  // random baseline at once and each remaining method after its first chunk; the table is then dropped.
  let stopped = false;
  let table: FaithfulnessTable;
  try {
    table = await faithfulnessTable(model.model, x, methods, {
      steps: o.steps,
      seed,
      road: !!o.road,
      randomization: !!o.randomization,
      layer: o.layer,
      stopOnError: o.methods !== 'all',
      onProgress: (p) => {
        hooks.onProgress?.(p.done, p.total, { method: p.method });
        if (stopped || hooks.shouldStop?.()) {
          stopped = true;
          throw new JobStopped('faithfulness');
        }
      },
    });
  } finally {
    x.dispose();
  }
  if (stopped) throw new JobStopped('faithfulness');
  const indices = Array.from(chunk.indices);
  const correct = indices.filter((_, k) => chunk.set.labels[k] === table.targets[k]).length;
  const report: FaithfulnessReport = {
    date: new Date().toISOString(),
    model: model.source,
    dataset: data.name,
    set: data.description,
    indices,
    sources: indices.map((i) => data.source(i)),
    ...(data.labelled ? { accuracy: correct / n } : {}),
    seconds: (performance.now() - t0) / 1000,
    ...table,
  };
  if (o.out) {
    await writeJsonAtomic(join(o.out, 'faithfulness.json'), report);
    await writeFileAtomic(join(o.out, 'faithfulness.md'), formatFaithfulnessMarkdown(report));
  }
  return report;
}

const f3 = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(3));

/** Header and rows of the table, best method first, the random baseline last. */
export function faithfulnessRows(r: FaithfulnessTable): string[][] {
  const road = !!r.road;
  const sanity = r.rows.some((x) => x.sanity);
  const head = ['method', 'deletion AUC ↓', 'insertion AUC ↑', 'ins − del', 'beats random (del/ins)'];
  if (road) head.push('ROAD MoRF ↓', 'ROAD LeRF ↑');
  if (sanity) head.push('sanity ρ (randomized)');
  head.push('ms/img', 'notes');
  const rows = [head];
  for (const x of r.rows) {
    const row = [
      x.layer ? `${x.method} @ ${x.layer}` : x.method,
      f3(x.deletionAuc),
      f3(x.insertionAuc),
      f3(x.score),
      x.error
        ? '-'
        : `${x.deletionAuc < r.random.deletionAuc ? 'yes' : 'no'}/${x.insertionAuc > r.random.insertionAuc ? 'yes' : 'no'}`,
    ];
    if (road) row.push(f3(x.road?.morfAuc), f3(x.road?.lerfAuc));
    if (sanity) row.push(x.sanity ? `${f3(x.sanity.correlation)}${x.sanity.flagged ? ' FLAGGED' : ''}` : '-');
    const notes = x.error ? `failed: ${x.error}` : x.warnings ? `${x.warnings} map(s) with warnings` : '';
    row.push(Number.isNaN(x.msPerInput) ? '-' : x.msPerInput.toFixed(1), notes);
    rows.push(row);
  }
  const base = [
    'random order (baseline)',
    f3(r.random.deletionAuc),
    f3(r.random.insertionAuc),
    f3(r.random.insertionAuc - r.random.deletionAuc),
    '',
  ];
  if (road) base.push(f3(r.random.road?.morfAuc), f3(r.random.road?.lerfAuc));
  if (sanity) base.push('');
  base.push('', '');
  rows.push(base);
  return rows;
}

/** What the numbers mean, one line each (under the table in the terminal and in Markdown). */
export function faithfulnessLegend(r: FaithfulnessReport): string[] {
  const acc = r.accuracy === undefined ? '' : ` (accuracy on them ${(r.accuracy * 100).toFixed(1)}%)`;
  return [
    `${r.count} images of ${r.set} (seed ${r.seed}), target = the model's prediction${acc}.`,
    `Deletion/insertion: ${r.steps} steps, deleted pixels = ${r.fill}; AUC of the target probability (deletion: lower is better, insertion: higher).`,
    ...(r.road
      ? [
          `ROAD: fractions ${r.road.fractions.join(', ')}, removed pixels filled by noisy linear imputation (σ ${r.road.noise}); MoRF AUC lower and LeRF AUC higher is better.`,
        ]
      : []),
    ...(r.rows.some((x) => x.sanity)
      ? [
          'Sanity: Spearman ρ between the maps of the trained model and of the fully randomized one (cascading, top layer first); FLAGGED = ρ ≥ 0.5, the maps ignore what the model learned.',
        ]
      : []),
  ];
}

export function formatFaithfulnessMarkdown(r: FaithfulnessReport): string {
  const rows = faithfulnessRows(r).map((row) => `| ${row.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`);
  rows.splice(
    1,
    0,
    `|${rows[0]
      .split(' | ')
      .map(() => '---')
      .join('|')}|`,
  );
  return [
    `# Faithfulness of explanation methods: ${r.model}`,
    '',
    ...rows,
    '',
    ...faithfulnessLegend(r).map((l) => `- ${l}`),
    '',
  ].join('\n');
}
