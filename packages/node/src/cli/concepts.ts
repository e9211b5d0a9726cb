/** `convlens concepts dff|tcav`: flags in, tasks/concepts-*.ts's files and index out (--json: index on stdout). */
import type { BackendName } from '@convlens/core/engine/backend';
import { type Command, InvalidArgumentError } from 'commander';
import { dffSummary, dffTask } from '../tasks/concepts-dff.ts';
import { tcavSummary, tcavTask } from '../tasks/concepts-tcav.ts';
import { action, backendOption, log } from './common.ts';
import { asJob, withModel } from './model-job.ts';
import {
  type DatasetFlags,
  datasetOptions,
  type ModelFlags,
  modelOptions,
  openDatasetOptions,
} from './model-options.ts';
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

interface TcavFlags extends ModelFlags, DatasetFlags {
  layer: string;
  class: string;
  concept: { name: string; dir: string }[];
  random: string[];
  limit: number;
  seed: number;
  out?: string;
  json?: boolean;
  backend: BackendName;
}

const conceptPair = (v: string, prev: { name: string; dir: string }[] = []) => {
  const at = v.indexOf('=');
  if (at <= 0 || at === v.length - 1)
    throw new InvalidArgumentError(`--concept must be NAME=DIR, got '${v}'`);
  return [...prev, { name: v.slice(0, at), dir: v.slice(at + 1) }];
};

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

  datasetOptions(
    modelOptions(
      concepts
        .command('tcav')
        .description(
          'TCAV: how much a class relies on user concepts (image folders) at a layer — linear CAVs against random folders, the fraction of class images whose score rises along each, and a t-test against random concepts',
        ),
    ),
    'images of the class: a labelled dataset (filtered to --class) or a folder of that class’s images',
  )
    .requiredOption('--layer <name>', 'layer for the CAVs')
    .requiredOption('--class <c>', 'class index or name')
    .requiredOption('--concept <name=dir>', 'a concept: NAME=FOLDER of images (repeat)', conceptPair)
    .requiredOption(
      '--random <dirs...>',
      'at least 3 folders of random images (the first plays the random concept)',
    )
    .option('--limit <n>', 'most images read per folder and of the class', positiveInt('--limit'), 50)
    .option('--seed <n>', 'classifier seed', nonNegativeInt('--seed'), 0)
    .option('--out <dir>', 'output directory (replaced): tcav.png, tcav.json')
    .option('--json', 'print the result JSON on stdout')
    .addOption(backendOption())
    .action(
      action(async (o: TcavFlags) => {
        const r = await withModel(o, (m) =>
          asJob('tcav', 'steps', (job) =>
            tcavTask(
              m,
              {
                layer: o.layer,
                class: o.class,
                concepts: o.concept,
                random: o.random,
                dataset: o.dataset,
                datasetOptions: openDatasetOptions(o, log),
                limit: o.limit,
                seed: o.seed,
                out: o.out,
              },
              job,
            ),
          ),
        );
        log(tcavSummary(r, o.out));
        if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      }),
    );
}
