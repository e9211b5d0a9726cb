/**
 * The flags every command uses to name a model and a dataset, and their translation into
 * openModel/openDataset options (open/ does the work; this file only parses).
 */
import { PRESETS, type PresetName, RESIZE_MODES, type ResizeMode } from '@convlens/core/preprocess/presets';
import { type Command, Option } from 'commander';
import type { OpenDatasetOptions } from '../open/open-dataset.ts';
import type { OpenModelOptions } from '../open/open-model.ts';
import { downloadProgress } from '../progress/download-progress.ts';
import { oneOf } from './options.ts';

export interface ModelFlags {
  model?: string;
  /** Alias of --model (a training run). */
  run?: string;
  labels?: string;
  inputRange?: string;
  preset?: PresetName;
  resize?: ResizeMode;
  inputShape?: string;
}

export interface DatasetFlags {
  dataset?: string;
  dataDir?: string;
  download?: boolean;
  labelsCsv?: string;
  onCorrupt?: 'skip' | 'fail';
  strictClasses?: boolean;
}

export const MODEL_SOURCES =
  'a run directory, an imported model folder, a tfjs model.json/folder/URL, a Keras .h5/.keras file, or an ONNX .onnx file';

/** --model SOURCE (--run alias), --labels, --input-range, --preset, --resize. */
export function modelOptions(cmd: Command, { required = true } = {}): Command {
  return cmd
    .option('--model <source>', `the model: ${MODEL_SOURCES}${required ? '' : ' (optional)'}`)
    .option('--run <dir>', 'alias of --model for a training run')
    .option('--labels <file>', 'class names (JSON array, {"labels": [...]}, or one per line)')
    .option(
      '--input-range <lo,hi>',
      'pixel range the model expects (e.g. -1,1), overriding its stored preprocessing',
    )
    .addOption(
      new Option('--preset <name>', 'input preprocessing, overriding the stored one').argParser(
        oneOf('preset', PRESETS),
      ),
    )
    .addOption(
      new Option(
        '--resize <mode>',
        'images of another size: fill (stretch) or crop (shorter side, centre)',
      ).argParser(oneOf('resize', RESIZE_MODES)),
    )
    .option('--input-shape <dims>', 'ONNX models with symbolic sizes: the input as C,H,W (e.g. 3,224,224)');
}

/** The model source from --model/--run; throws one line when neither or both (with different values) are given. */
export function modelSource(o: ModelFlags, required = true): string | undefined {
  if (o.model && o.run && o.model !== o.run)
    throw new Error('give either --model or --run (its alias), not both');
  const source = o.model ?? o.run;
  if (!source && required) throw new Error(`--model is required (${MODEL_SOURCES})`);
  return source;
}

export function openModelOptions(o: ModelFlags, log: (s: string) => void): OpenModelOptions {
  return {
    labels: o.labels,
    inputRange: o.inputRange,
    preset: o.preset,
    resize: o.resize,
    inputShape: o.inputShape,
    log,
  };
}

/** --dataset, --data-dir, --no-download, --labels-csv, --on-corrupt, --strict-classes. */
export function datasetOptions(
  cmd: Command,
  datasetHelp = 'images: mnist, fashion-mnist, an IDX folder, or an image folder (default: the run’s held-out data)',
): Command {
  return cmd
    .option('--dataset <name|dir>', datasetHelp)
    .option('--data-dir <dir>', 'folder holding the IDX dataset files (or <name>/ with them)')
    .option('--no-download', 'never download; fail when the files are not found locally')
    .option('--labels-csv <file>', 'labels of a flat image folder: file,label rows (default: DIR/labels.csv)')
    .addOption(
      new Option('--on-corrupt <mode>', 'unreadable images: fail, or skip (reported)')
        .argParser(oneOf('on-corrupt', ['skip', 'fail'] as const))
        .default('fail'),
    )
    .option('--strict-classes', 'fail when a class folder or label is not one of the model’s classes');
}

export function openDatasetOptions(o: DatasetFlags, log: (s: string) => void): OpenDatasetOptions {
  return {
    dataDir: o.dataDir,
    download: o.download,
    downloadOptions: downloadProgress(log),
    labelsCsv: o.labelsCsv,
    onCorrupt: o.onCorrupt,
    strictClasses: o.strictClasses,
    log,
  };
}
