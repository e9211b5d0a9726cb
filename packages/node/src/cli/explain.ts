/** `convlens explain`: flags in, tasks/explain.ts's figures and index out, the top-k and files printed. */
import { type BackendName, initBackend } from '@convlens/core/engine/backend';
import { JobStopped } from '@convlens/core/jobs/job';
import { explainMethods } from '@convlens/core/methods/explain/registry';
import type { Command } from 'commander';
import { checkOutDir } from '../figures/figure-set.ts';
import { openDataset } from '../open/open-dataset.ts';
import { openModel } from '../open/open-model.ts';
import { cliJob } from '../progress/terminal-job.ts';
import { type ExplainIndex, explain, pickMethods } from '../tasks/explain.ts';
import { type ModelInput, readModelInput } from '../tasks/model-input.ts';
import { action, backendOption, log } from './common.ts';
import { explainAuto } from './explain-auto.ts';
import {
  type BatchExplainFlags,
  batchExplainOptions,
  checkSingleFlags,
  isBatchExplain,
  runBatchExplain,
} from './explain-dataset.ts';
import { type MethodOptionFlags, methodOptionFlags, methodOptions } from './method-options.ts';
import {
  type DatasetFlags,
  datasetOptions,
  type ModelFlags,
  modelOptions,
  modelSource,
  openDatasetOptions,
  openModelOptions,
} from './model-options.ts';
import { nonNegativeInt, positiveInt } from './options.ts';

interface ExplainFlags extends ModelFlags, DatasetFlags, BatchExplainFlags, MethodOptionFlags {
  image?: string;
  index?: number;
  method: string;
  layer?: string;
  class: string;
  top: number;
  out: string;
  json?: boolean;
  backend: BackendName;
}

export function formatExplain(index: ExplainIndex): string {
  const lines: string[] = [];
  for (const e of index.inputs) {
    const truth = e.labelName !== undefined ? ` [true: ${e.labelName}]` : '';
    lines.push(
      `${e.source}${truth}: ${e.top.map((t) => `${t.name} ${(t.probability * 100).toFixed(1)}%`).join(', ')}`,
    );
    lines.push(`  explained: ${e.targetName}`);
    for (const m of e.methods)
      lines.push(
        m.error
          ? `  ${m.method}: failed (${m.error})`
          : `  ${m.method}${m.layer ? ` @ ${m.layer}` : ''}: ${m.file} (${m.seconds?.toFixed(2)} s)${m.warnings?.length ? ` — ${m.warnings.join('; ')}` : ''}`,
      );
    lines.push(`  panel: ${e.panel}`);
  }
  return lines.join('\n');
}

async function readInputs(
  o: ExplainFlags,
  model: Awaited<ReturnType<typeof openModel>>,
): Promise<ModelInput[]> {
  if (o.image !== undefined && o.index !== undefined)
    throw new Error('give either --image or --index, not both');
  if (o.image !== undefined) {
    if (o.dataset !== undefined) throw new Error('--dataset goes with --index, not --image');
    const out: ModelInput[] = [];
    for (const file of o.image.split(',')) out.push(await readModelInput(model, { image: file }, log));
    return out;
  }
  if (o.index === undefined)
    throw new Error(
      'give an input: --image FILE[,FILE...], or --index N (of --dataset, or a run’s held-out data)',
    );
  const dataset = await openDataset(o.dataset, model, openDatasetOptions(o, log));
  return [await readModelInput(model, { dataset, index: o.index }, log)];
}

export function registerExplainCommand(program: Command): void {
  methodOptionFlags(
    batchExplainOptions(
      datasetOptions(
        modelOptions(
          program
            .command('explain')
            .description(
              'explanation maps (Grad-CAM family, saliency, SmoothGrad, IG, occlusion, …) of inputs, drawn over them',
            ),
        ),
        'dataset for --index: mnist, fashion-mnist, an IDX folder or an image folder (default: the run’s held-out data); alone: explain every image (batch)',
      ),
    ),
  )
    .option(
      '--image <files>',
      'input image file(s), comma-separated (resized with the model’s resize policy)',
    )
    .option('--index <n>', 'image N of --dataset', nonNegativeInt('--index'))
    .option(
      '--method <ids>',
      `method(s), comma-separated, all, or auto (ranked on held-out images, cached per model) (${explainMethods()
        .map((m) => m.id)
        .join(', ')})`,
      'all',
    )
    .option(
      '--layer <name>',
      'layer for CAM methods (default: the last spatial layer); a,b,c fuses several (see --fusion)',
    )
    .option(
      '--class <c>',
      "class to explain: an index, a class name, or 'auto' for the top prediction",
      'auto',
    )
    .option('--top <k>', 'predictions to list', positiveInt('--top'), 5)
    .requiredOption('--out <dir>', 'output directory (replaced atomically)')
    .option('--json', 'print the index as JSON on stdout')
    .addOption(backendOption())
    .action(
      action(async (o: ExplainFlags, cmd?: Command) => {
        const source = modelSource(o)!;
        if (o.method === 'auto' && !isBatchExplain(o)) return explainAuto(o);
        if (isBatchExplain(o)) {
          await checkOutDir(o.out);
          await initBackend(o.backend);
          const model = await openModel(source, openModelOptions(o, log));
          try {
            return await runBatchExplain(o, model, cmd?.getOptionValueSource('method') !== 'default');
          } finally {
            model.dispose();
          }
        }
        checkSingleFlags(o);
        // Cheap checks first: a typo must not wait for a model to load.
        const methods = pickMethods(o.method);
        await checkOutDir(o.out);
        await initBackend(o.backend);
        const model = await openModel(source, openModelOptions(o, log));
        const job = cliJob('explain', 'method');
        try {
          const inputs = await readInputs(o, model);
          const index = await explain(
            model,
            inputs,
            { methods, layer: o.layer, options: methodOptions(o), class: o.class, top: o.top, out: o.out },
            job,
          );
          job.close();
          process.stdout.write(`${o.json ? JSON.stringify(index) : formatExplain(index)}\n`);
        } catch (err) {
          if (!(err instanceof JobStopped)) throw err;
          log('explain: stopped; nothing written');
          process.exit(130);
        } finally {
          job.close();
          model.dispose();
        }
      }),
    );
}
