/** `convlens concepts dff|tcav`: flags in, tasks/concepts-*.ts's files and index out (--json: index on stdout). */
import type { BackendName } from '@convlens/core/engine/backend';
import type { Command } from 'commander';
import { dffSummary, dffTask } from '../tasks/concepts-dff.ts';
import { action, backendOption, log } from './common.ts';
import { asJob, withModel } from './model-job.ts';
import { type ModelFlags, modelOptions } from './model-options.ts';
import { nonNegativeInt, positiveInt } from './options.ts';

interface DffFlags extends ModelFlags {
  image: string[];
  layer?: string;
  k: number;
  top: number;
  seed: number;
  out: string;
  json?: boolean;
  backend: BackendName;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerConceptsCommands(program: Command): void {
  const concepts = program
    .command('concepts')
    .description('concept-level explanations: Deep Feature Factorization (dff) and TCAV (tcav)');
  modelOptions(
    concepts
      .command('dff')
      .description(
        'Deep Feature Factorization: NMF of a layer’s activations over one or a few images into K concepts, drawn as coloured regions and named by the classes each concept scores highest through the head',
      ),
  )
    .requiredOption('--image <file>', 'an image (repeat for a few: the concepts are shared)', collect)
    .option('--layer <name>', 'spatial layer (default: the last spatial layer)')
    .option('--k <n>', 'number of concepts', positiveInt('--k'), 5)
    .option('--top <n>', 'classes named per concept', positiveInt('--top'), 2)
    .option('--seed <n>', 'NMF start seed', nonNegativeInt('--seed'), 0)
    .requiredOption('--out <dir>', 'output directory (replaced)')
    .option('--json', 'print index.json on stdout')
    .addOption(backendOption())
    .action(
      action(async (o: DffFlags) => {
        const index = await withModel(o, (m) =>
          asJob('dff', 'images', (job) =>
            dffTask(
              m,
              { images: o.image, layer: o.layer, k: o.k, top: o.top, seed: o.seed, out: o.out },
              job,
            ),
          ),
        );
        log(dffSummary(index, o.out));
        if (o.json) process.stdout.write(`${JSON.stringify(index, null, 2)}\n`);
      }),
    );
}
