/**
 * `convlens faithfulness`: how faithful each explanation method is on a run's held-out data —
 * deletion and insertion AUC against random pixel orders, optionally ROAD (MoRF/LeRF with noisy
 * linear imputation) and the model randomization sanity check — as one table sorted best first.
 */
import { join } from 'node:path';
import { toFloatBatch } from '@convlens/core/data/batches';
import { createRng, permutation } from '@convlens/core/data/rng';
import type { ImageSet } from '@convlens/core/data/types';
import { type BackendName, initBackend, tf } from '@convlens/core/engine/backend';
import { explainMethods, getExplainMethod } from '@convlens/core/methods/explain/registry';
import { type FaithfulnessTable, faithfulnessTable } from '@convlens/core/methods/faithfulness/table';
import type { Command } from 'commander';
import { loadDataset } from '../data/load.ts';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { loadModel } from '../io/model-io.ts';
import { planData } from '../train/data-plan.ts';
import { loadRun } from '../train/load-run.ts';
import { action, backendOption, dataOptions, log } from './common.ts';
import { downloadProgress } from './download-progress.ts';
import { nonNegativeInt, positiveInt } from './options.ts';
import { progressBar } from './progress.ts';

export interface FaithfulnessCliOptions {
  model: string;
  method: string;
  count: number;
  steps: number;
  seed: number;
  road?: boolean;
  randomization?: boolean;
  layer?: string;
  dataset?: string;
  dataDir?: string;
  download?: boolean;
  inputRange: string;
  out?: string;
  json?: boolean;
  backend: BackendName;
}

export interface FaithfulnessReport extends FaithfulnessTable {
  date: string;
  model: string;
  dataset: string;
  /** Which split the inputs came from. */
  set: string;
  /** Indices of the inputs in that split (a seeded random choice). */
  indices: number[];
  /** Accuracy of the model on the chosen inputs (targets are its predictions, not the labels). */
  accuracy: number;
  seconds: number;
}

interface Data {
  model: tf.LayersModel;
  set: ImageSet;
  setName: string;
  dataset: string;
  toInput: (idx: number[]) => Float32Array;
}

async function loadData(o: FaithfulnessCliOptions): Promise<Data> {
  const dl = { dataDir: o.dataDir, download: o.download, downloadOptions: downloadProgress(log) };
  if (!o.model.endsWith('.json')) {
    const run = await loadRun(o.model);
    const c = run.config;
    const scaling = run.standardizer ? ('standardize' as const) : ('unit' as const);
    let set: ImageSet;
    let setName: string;
    if (!o.dataset || o.dataset === c.dataset) {
      // The run's own held-out data (as `evaluate` uses it): never images it was trained on.
      const plan = await planData({
        dataset: c.dataset,
        ...dl,
        valFraction: c.valFraction,
        seed: c.seed,
        limit: c.limit,
        scaling: c.scaling,
        standardizer: c.standardizer,
      });
      set = plan.test ?? plan.val;
      setName = plan.test ? 'test' : 'held-out validation, split from the test set';
    } else {
      set = (await loadDataset(o.dataset, { ...dl, train: false })).test;
      setName = 'test';
    }
    const [h, w, ch] = c.inputShape;
    if (set.height !== h || set.width !== w || set.channels !== ch)
      throw new Error(
        `dataset ${o.dataset ?? c.dataset}: images are ${set.height}×${set.width}×${set.channels}, the model expects ${h}×${w}×${ch}`,
      );
    return {
      model: run.model,
      set,
      setName,
      dataset: o.dataset ?? c.dataset,
      toInput: (idx) => toFloatBatch(set, idx, { scaling, standardizer: run.standardizer }),
    };
  }
  if (!o.dataset) throw new Error('--model MODEL_JSON needs --dataset (a run directory knows its own)');
  const range = o.inputRange.split(',').map(Number);
  if (range.length !== 2 || !range.every(Number.isFinite) || range[0] >= range[1])
    throw new Error(
      `--input-range must be LOW,HIGH with LOW < HIGH (e.g. 0,1 or -1,1), got '${o.inputRange}'`,
    );
  const set = (await loadDataset(o.dataset, { ...dl, train: false })).test;
  const { model } = await loadModel(o.model);
  const shape = (model.inputs[0].shape as number[]).slice(1);
  if (shape[0] !== set.height || shape[1] !== set.width || shape[2] !== set.channels) {
    model.dispose();
    throw new Error(
      `dataset ${o.dataset}: images are ${set.height}×${set.width}×${set.channels}, the model expects ${shape.join('×')}`,
    );
  }
  const [lo, hi] = range;
  return {
    model,
    set,
    setName: 'test',
    dataset: o.dataset,
    toInput: (idx) => Float32Array.from(toFloatBatch(set, idx), (v) => lo + v * (hi - lo)),
  };
}

export async function faithfulnessCommand(o: FaithfulnessCliOptions): Promise<FaithfulnessReport> {
  if (!(Number.isInteger(o.count) && o.count > 0))
    throw new Error(`--count must be a positive integer, got '${o.count}'`);
  // Unknown ids fail before any loading.
  const methods =
    o.method === 'all' ? explainMethods() : o.method.split(',').map((id) => getExplainMethod(id.trim()));
  await initBackend(o.backend);
  const t0 = performance.now();
  const d = await loadData(o);
  try {
    let count = o.count;
    if (count > d.set.count) {
      log(`notice: --count ${count} but the ${d.setName} set has ${d.set.count} images; using all of them`);
      count = d.set.count;
    }
    const indices = Array.from(permutation(d.set.count, createRng(o.seed)).subarray(0, count));
    const x = tf.tensor4d(d.toInput(indices), [count, d.set.height, d.set.width, d.set.channels]);
    try {
      log(
        `faithfulness of ${methods.length} method(s) on ${count} ${d.setName} images of ${d.dataset}` +
          `${o.road ? ', with ROAD' : ''}${o.randomization ? ', with the randomization check' : ''}`,
      );
      const bar = progressBar('faithfulness', (methods.length + 1) * count, 'img', ' | {method}', {
        method: '',
      });
      let table: FaithfulnessTable;
      try {
        table = await faithfulnessTable(d.model, x, methods, {
          steps: o.steps,
          seed: o.seed,
          road: !!o.road,
          randomization: !!o.randomization,
          layer: o.layer,
          // A method named explicitly must work; with `all`, a failure is one row of the table.
          stopOnError: o.method !== 'all',
          onProgress: (p) => bar.update(p.done, { method: p.method }),
        });
      } finally {
        bar.stop();
      }
      const correct = indices.filter((i, k) => d.set.labels[i] === table.targets[k]).length;
      const report: FaithfulnessReport = {
        date: new Date().toISOString(),
        model: o.model,
        dataset: d.dataset,
        set: d.setName,
        indices,
        accuracy: correct / count,
        seconds: (performance.now() - t0) / 1000,
        ...table,
      };
      if (o.out) {
        await writeJsonAtomic(join(o.out, 'faithfulness.json'), report);
        await writeFileAtomic(join(o.out, 'faithfulness.md'), formatFaithfulnessMarkdown(report));
      }
      return report;
    } finally {
      x.dispose();
    }
  } finally {
    d.model.dispose();
  }
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

function legend(r: FaithfulnessReport): string[] {
  return [
    `${r.count} ${r.set} images of ${r.dataset} (seed ${r.seed}), target = the model's prediction (accuracy on them ${(r.accuracy * 100).toFixed(1)}%).`,
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

export function formatFaithfulness(r: FaithfulnessReport): string {
  const rows = faithfulnessRows(r);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => [...row[i]].length)));
  const lines = rows.map((row) =>
    row
      .map((c, i) => c + ' '.repeat(widths[i] - [...c].length))
      .join('  ')
      .trimEnd(),
  );
  return [...lines, '', ...legend(r)].join('\n');
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
    ...legend(r).map((l) => `- ${l}`),
    '',
  ].join('\n');
}

export function registerFaithfulnessCommand(program: Command): void {
  dataOptions(
    program
      .command('faithfulness')
      .description(
        'how faithful each explanation method is: deletion/insertion AUC vs random, ROAD, randomization sanity check',
      )
      .requiredOption(
        '--model <RUN_DIR|MODEL_JSON>',
        'a run directory (its held-out data is used), or a tfjs layers model.json with --dataset',
      )
      .option('--dataset <name|dir>', 'dataset whose test split to use (default: the run’s held-out data)'),
  )
    .option(
      '--method <ids>',
      `method(s), comma-separated, or all (${explainMethods()
        .map((m) => m.id)
        .join(', ')})`,
      'all',
    )
    .option('--count <n>', 'number of inputs (a seeded random choice)', positiveInt('--count'), 100)
    .option('--steps <n>', 'deletion/insertion curve steps', positiveInt('--steps'), 20)
    .option(
      '--seed <n>',
      'seed for the choice of inputs and the random baselines',
      nonNegativeInt('--seed'),
      1,
    )
    .option('--road', 'also ROAD (remove and debias: MoRF/LeRF with noisy linear imputation)')
    .option('--randomization', 'also the model randomization sanity check (on the first 16 inputs)')
    .option('--layer <name>', 'layer for CAM methods (default: the last spatial layer)')
    .option('--input-range <lo,hi>', 'pixel range a model.json expects (0,1; MobileNet: -1,1)', '0,1')
    .option('--out <dir>', 'write faithfulness.json and faithfulness.md here')
    .option('--json', 'print the report as JSON on stdout')
    .addOption(backendOption())
    .action(
      action(async (o: FaithfulnessCliOptions) => {
        const report = await faithfulnessCommand(o);
        process.stdout.write(`${o.json ? JSON.stringify(report, null, 2) : formatFaithfulness(report)}\n`);
      }),
    );
}
