/**
 * `convlens explain --method auto`: rank the methods × layers on a held-out sample (tasks/method-choice.ts,
 * cached per model), print the ranking, the disagreements and the choice with its reason, then explain
 * the requested input(s) with the chosen method and layer.
 */
import { dirname } from 'node:path';
import { type BackendName, initBackend } from '@convlens/core/engine/backend';
import { getExplainMethod } from '@convlens/core/methods/explain/registry';
import { checkOutDir } from '../figures/figure-set.ts';
import { type OpenedDataset, openDataset } from '../open/open-dataset.ts';
import { type OpenedModel, openModel } from '../open/open-model.ts';
import { type ExplainIndex, explain } from '../tasks/explain.ts';
import { type AutoRanking, rankForModel } from '../tasks/method-choice.ts';
import { type ModelInput, readModelInput } from '../tasks/model-input.ts';
import { log } from './common.ts';
import { formatExplain } from './explain.ts';
import { asJob } from './model-job.ts';
import {
  type DatasetFlags,
  type ModelFlags,
  modelSource,
  openDatasetOptions,
  openModelOptions,
} from './model-options.ts';

export interface ExplainAutoFlags extends ModelFlags, DatasetFlags {
  image?: string;
  index?: number;
  class: string;
  top: number;
  out: string;
  json?: boolean;
  backend: BackendName;
  sample?: number;
  layer?: string;
  force?: boolean;
}

const f3 = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v.toFixed(3));

export function formatRanking(r: AutoRanking): string {
  const lines = [
    `Method ranking on ${r.sample} held-out images of ${r.set}${r.cached ? ' (cached)' : ''}: faithfulness score, deletion ↓, insertion ↑, randomisation ρ ↓, ms/img`,
  ];
  for (const row of r.rows) {
    const name = `${row.layer ? `${row.method} @ ${row.layer}` : row.method}${row.control ? ' (control)' : ''}`;
    lines.push(
      `  ${row.control ? ' ' : row.trusted ? '✓' : '✗'} ${name.padEnd(40)} ${f3(row.familyScores.faithfulness)}  ${f3(row.means.deletion)}  ${f3(row.means.insertion)}  ${f3(row.sanity?.correlation)}  ${row.msPerImage === null ? '-' : row.msPerImage.toFixed(1)}${row.control || row.trusted ? '' : `  ${row.flags.join('; ')}`}`,
    );
  }
  for (const d of r.disagreements) lines.push(`Disagreement: ${d}`);
  lines.push(r.choice ? `Auto choice: ${r.choice.reason}` : 'Auto choice: none (no method produced a map)');
  return lines.join('\n');
}

/** The held-out sample: --dataset, else the run's held-out data, else the folder of the first --image. */
async function sampleData(o: ExplainAutoFlags, model: OpenedModel): Promise<OpenedDataset> {
  if (o.dataset || model.run) return openDataset(o.dataset, model, openDatasetOptions(o, log));
  if (!o.image) throw new Error('--method auto: give --dataset (held-out images to rank the methods on)');
  const dir = dirname(o.image.split(',')[0]);
  log(`notice: --method auto: no --dataset, so the methods are ranked on the images in ${dir}`);
  return openDataset(dir, model, openDatasetOptions(o, log));
}

export async function explainAuto(o: ExplainAutoFlags): Promise<void> {
  if (o.image !== undefined && o.index !== undefined)
    throw new Error('give either --image or --index, not both');
  if (o.image === undefined && o.index === undefined)
    throw new Error(
      'give an input: --image FILE[,FILE...], or --index N (of --dataset, or a run’s held-out data)',
    );
  await checkOutDir(o.out);
  await initBackend(o.backend);
  const model = await openModel(modelSource(o)!, openModelOptions(o, log));
  try {
    const data = await sampleData(o, model);
    const ranking = await asJob('auto: ranking methods', 'chunk', (job) =>
      rankForModel(
        model,
        data,
        { sample: o.sample, force: o.force, ...(o.layer ? { layers: [o.layer] } : {}) },
        job,
      ),
    );
    if (!ranking.choice) throw new Error('--method auto: no method produced a map on the sample');
    const inputs: ModelInput[] = [];
    if (o.image !== undefined)
      for (const file of o.image.split(',')) inputs.push(await readModelInput(model, { image: file }, log));
    else inputs.push(await readModelInput(model, { dataset: data, index: o.index! }, log));
    const index: ExplainIndex = await asJob('explain', 'method', (job) =>
      explain(
        model,
        inputs,
        {
          methods: [getExplainMethod(ranking.choice!.method)],
          layer: ranking.choice!.layer,
          class: o.class,
          top: o.top,
          out: o.out,
        },
        job,
      ),
    );
    process.stdout.write(
      o.json
        ? `${JSON.stringify({ ranking, explain: index })}\n`
        : `${formatRanking(ranking)}\n\n${formatExplain(index)}\n`,
    );
  } finally {
    model.dispose();
  }
}
