/** `convlens import SOURCE --out DIR`: tfjs layers (folder/URL), Keras .h5 or .keras → a convlens model folder. */
import { initBackend } from '@convlens/core/engine/backend';
import { PRESETS, type PresetName } from '@convlens/core/preprocess/presets';
import { type Command, Option } from 'commander';
import { importModel, inputGeometry } from '../import/import-model.ts';
import { parseInputShape } from '../import/onnx-file.ts';
import { saveImported } from '../import/save-imported.ts';
import { hasModel } from '../io/model-io.ts';
import { readLabelsFile } from '../open/labels.ts';
import { action, backendOption, log } from './common.ts';
import { oneOf } from './options.ts';

export interface ImportOptions {
  out: string;
  /** Default: torch for ONNX models (PyTorch exports), else scale01. */
  preset?: PresetName;
  /** ONNX models with symbolic sizes: C,H,W. */
  inputShape?: string;
  labels?: string;
  force?: boolean;
  json?: boolean;
  backend: 'wasm' | 'cpu';
}

export async function importCommand(source: string, o: ImportOptions) {
  if (!o.force && (await hasModel(o.out)))
    throw new Error(`${o.out}: already holds a model (use --force to replace it)`);
  await initBackend(o.backend);
  const t0 = performance.now();
  const {
    model,
    kind,
    classNames: found,
  } = await importModel(source, {
    inputShape: o.inputShape ? parseInputShape(o.inputShape) : undefined,
  });
  const preset = o.preset ?? (kind === 'onnx' ? 'torch' : 'scale01');
  const seconds = (performance.now() - t0) / 1000;
  try {
    const classNames = o.labels ? await readLabelsFile(o.labels) : found;
    const outputs = model.outputs[0].shape.at(-1) ?? 0;
    if (classNames && classNames.length !== outputs)
      throw new Error(`${o.labels ?? source}: ${classNames.length} class names for ${outputs} outputs`);
    const geometry = inputGeometry(model);
    await saveImported(model, o.out, { preset, ...(classNames ? { classNames } : {}) });
    const summary = {
      source,
      kind,
      out: o.out,
      layers: model.layers.length,
      params: model.countParams(),
      input: geometry,
      outputs,
      classNames: classNames?.length ?? 0,
      preset,
      loadSeconds: +seconds.toFixed(3),
    };
    if (!o.json)
      log(
        `imported ${kind} model: ${summary.layers} layers, ${summary.params} parameters → ${o.out} (${seconds.toFixed(2)} s)`,
      );
    return summary;
  } finally {
    model.dispose();
  }
}

export function registerImportCommand(program: Command): void {
  program
    .command('import')
    .description(
      'import a tfjs layers or graph model (folder, model.json or http(s) URL), a Keras .h5/.keras or an ONNX file',
    )
    .argument('<source>', 'model folder, model.json, URL, .h5, .keras or .onnx')
    .requiredOption('--out <dir>', 'model folder to write (model.json, weights.bin, preprocess.json)')
    .addOption(
      new Option(
        '--preset <name>',
        'input preprocessing stored with the model (default: torch for .onnx, else scale01)',
      ).argParser(oneOf('preset', PRESETS)),
    )
    .option('--input-shape <dims>', 'ONNX models with symbolic sizes: the input as C,H,W (e.g. 3,224,224)')
    .option(
      '--labels <file>',
      'class names: JSON array, {"labels": [...]} or one per line (default: metadata.json)',
    )
    .option('--force', 'replace an existing model in --out')
    .option('--json', 'print a machine-readable summary on stdout')
    .addOption(backendOption())
    .action(async (source: string, o: ImportOptions) =>
      action(async () => {
        const summary = await importCommand(source, o);
        if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      })(o),
    );
}
