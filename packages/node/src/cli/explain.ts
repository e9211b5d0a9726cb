/**
 * `convlens explain`: explanation maps of one or more inputs for a run's model or any tfjs layers
 * model (e.g. ../shared/models/mobilenet_*), every registered method or the ones asked for, drawn
 * over the input and side by side, with the top-k predictions and an index JSON.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { applyStandardizer, type Standardizer } from '@convlens/core/data/standardize';
import { type BackendName, initBackend, tf } from '@convlens/core/engine/backend';
import { explainMethods, getExplainMethod } from '@convlens/core/methods/explain/registry';
import type { Explanation } from '@convlens/core/methods/explain/types';
import { createImage, grid, type RGBAImage, upscale } from '@convlens/core/render/image';
import type { Command } from 'commander';
import { writeDirAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { loadModel } from '../io/model-io.ts';
import { labelledPanel, readImage } from '../io/png.ts';
import { drawExplanation } from '@convlens/core/render/overlay';
import { loadRun } from '../train/load-run.ts';
import { action, backendOption, dataOptions, log } from './common.ts';
import { checkOutDir, FigureSet, safeName } from './inside-figures.ts';
import { loadInput } from './inside-input.ts';
import { nonNegativeInt, positiveInt } from './options.ts';

export interface ExplainOptions {
  model: string;
  image?: string;
  index?: number;
  dataset?: string;
  dataDir?: string;
  download?: boolean;
  method: string;
  layer?: string;
  class: string;
  top: number;
  inputRange: string;
  out: string;
  json?: boolean;
  backend: BackendName;
}

interface Subject {
  model: tf.LayersModel;
  inputShape: [number, number, number];
  classNames: string[];
  standardizer?: Standardizer;
  range: [number, number];
  run?: Awaited<ReturnType<typeof loadRun>>;
}

async function loadSubject(o: ExplainOptions): Promise<Subject> {
  const range = parseRange(o.inputRange);
  if (!o.model.endsWith('.json')) {
    const run = await loadRun(o.model);
    return {
      model: run.model,
      inputShape: run.config.inputShape,
      classNames: run.classNames,
      standardizer: run.standardizer,
      range,
      run,
    };
  }
  const { model } = await loadModel(o.model);
  const shape = (model.inputs[0].shape as number[]).slice(1);
  if (shape.length !== 3 || shape.some((d) => !d))
    throw new Error(`${o.model}: needs a fixed image input [H, W, C], got [${shape}]`);
  const classes = (model.outputs[0].shape as number[])[1] ?? 0;
  let classNames = Array.from({ length: classes }, (_, i) => String(i));
  const metaPath = join(dirname(o.model), 'metadata.json');
  const meta = await readFile(metaPath, 'utf8').then(JSON.parse, () => null);
  if (meta && Array.isArray(meta.labels) && meta.labels.length === classes)
    classNames = meta.labels.map(String);
  return { model, inputShape: shape as [number, number, number], classNames, range };
}

function parseRange(s: string): [number, number] {
  const parts = s.split(',').map(Number);
  if (parts.length !== 2 || !parts.every(Number.isFinite) || parts[0] >= parts[1])
    throw new Error(`--input-range must be LOW,HIGH with LOW < HIGH (e.g. 0,1 or -1,1), got '${s}'`);
  return parts as [number, number];
}

interface Input {
  x: Float32Array;
  bytes: Uint8Array;
  source: string;
  label?: number;
}

async function loadInputs(s: Subject, o: ExplainOptions): Promise<Input[]> {
  const [h, w, c] = s.inputShape;
  if (o.image !== undefined && o.index !== undefined)
    throw new Error('give either --image or --index, not both');
  if (o.index !== undefined) {
    if (!s.run)
      throw new Error(
        '--index needs --model RUN_DIR (a run knows its dataset); give --image for a model.json',
      );
    return [await loadInput(s.run, o, log)];
  }
  if (!o.image) throw new Error('give an input: --image FILE[,FILE...] or --index N');
  if (c !== 1 && c !== 3)
    throw new Error(`the model reads ${c}-channel input; image files give 1 or 3 channels`);
  const out: Input[] = [];
  for (const file of o.image.split(',')) {
    const img = await readImage(file, { width: w, height: h, channels: c as 1 | 3 });
    const { original: g } = img;
    if (g.width !== w || g.height !== h)
      log(`notice: ${file} is ${g.width}×${g.height}; resized to ${w}×${h}`);
    const bytes = Uint8Array.from(img.pixels, (v) => Math.round(v * 255));
    const [lo, hi] = s.range;
    const x = Float32Array.from(img.pixels, (v) => lo + v * (hi - lo));
    if (s.standardizer) applyStandardizer(s.standardizer, x);
    out.push({ x, bytes, source: file });
  }
  return out;
}

function toImage(bytes: Uint8Array, w: number, h: number, c: number): RGBAImage {
  const img = createImage(w, h);
  for (let p = 0; p < w * h; p++) {
    const v = bytes.subarray(p * c, p * c + c);
    img.data.set(c === 3 ? [v[0], v[1], v[2], 255] : [v[0], v[0], v[0], 255], p * 4);
  }
  return img;
}

export async function explainCommand(o: ExplainOptions) {
  await checkOutDir(o.out);
  await initBackend(o.backend);
  const s = await loadSubject(o);
  const methods = o.method === 'all' ? explainMethods() : o.method.split(',').map(getExplainMethod);
  const inputs = await loadInputs(s, o);
  const [H, W, C] = s.inputShape;
  const classes = s.classNames.length;
  const x = tf.tensor4d(Float32Array.from(inputs.flatMap((i) => Array.from(i.x))), [inputs.length, H, W, C]);
  try {
    const probs = tf.tidy(() => s.model.predict(x) as tf.Tensor).arraySync() as number[][];
    const top = probs.map((p) =>
      p
        .map((v, i) => ({ class: i, name: s.classNames[i], probability: v }))
        .sort((a, b) => b.probability - a.probability)
        .slice(0, Math.min(o.top, classes)),
    );
    let targets: number[];
    if (o.class === 'auto') targets = top.map((t) => t[0].class);
    else {
      const c = Number(o.class);
      if (!Number.isInteger(c) || c < 0 || c >= classes)
        throw new Error(
          `--class ${o.class} is out of range: the model has ${classes} classes (0–${classes - 1}) or 'auto'`,
        );
      targets = inputs.map(() => c);
    }
    const results: {
      method: string;
      title: string;
      explanation?: Explanation;
      error?: string;
      seconds: number;
    }[] = [];
    for (const m of methods) {
      const t0 = performance.now();
      try {
        const e = await m.explain({
          model: s.model,
          input: x,
          target: targets,
          layer: m.needsLayer ? o.layer : undefined,
        });
        results.push({
          method: m.id,
          title: m.title,
          explanation: e,
          seconds: (performance.now() - t0) / 1000,
        });
      } catch (err: any) {
        if (o.method !== 'all') throw err;
        results.push({
          method: m.id,
          title: m.title,
          error: err.message,
          seconds: (performance.now() - t0) / 1000,
        });
      }
    }
    const scale = Math.max(1, Math.round(224 / Math.max(H, W)));
    const index: any = { model: o.model, targets, inputs: [] as any[] };
    await writeDirAtomic(o.out, async (dir) => {
      const figs = new FigureSet(dir);
      for (let i = 0; i < inputs.length; i++) {
        const base = toImage(inputs[i].bytes, W, H, C);
        const name = safeName(inputs[i].source.split('/').pop() ?? `input${i}`);
        const t = targets[i];
        const caption = `${s.classNames[t]} p=${probs[i][t].toFixed(3)}`;
        const panels: RGBAImage[] = [
          await labelledPanel(upscale(base, scale), { title: 'input', caption: [caption], minWidth: 180 }),
        ];
        const entry: any = {
          source: inputs[i].source,
          label: inputs[i].label,
          top: top[i],
          target: t,
          methods: [],
        };
        for (const r of results) {
          if (!r.explanation) {
            entry.methods.push({ method: r.method, error: r.error });
            continue;
          }
          const e = r.explanation;
          const img = drawExplanation(e, i, base, scale);
          const file = `${name}-${safeName(r.method)}.png`;
          const panel = await labelledPanel(img, {
            title: `${r.title}${e.layer ? ` @ ${e.layer}` : ''}`,
            caption: [caption, ...(e.warnings[i] ?? [])],
            minWidth: 180,
          });
          await figs.png({ file, kind: 'explanation', method: r.method, class: t, layer: e.layer }, panel);
          panels.push(panel);
          entry.methods.push({
            method: r.method,
            file,
            layer: e.layer,
            signed: e.signed,
            warnings: e.warnings[i],
            seconds: r.seconds,
            meta: perInput(e.meta, i, inputs.length),
          });
        }
        const file = `${name}-panel.png`;
        await figs.png(
          { file, kind: 'panel', class: t },
          grid(panels, { columns: Math.min(panels.length, 6), gap: 4 }),
        );
        entry.panel = file;
        index.inputs.push(entry);
      }
      index.figures = figs.entries;
      await writeJsonAtomic(join(dir, 'index.json'), index);
    });
    return index;
  } finally {
    x.dispose();
    if (!s.run) s.model.dispose();
  }
}

/** Per-input entries of a method's metadata arrays (one value per input), scalars as they are. */
function perInput(meta: Record<string, unknown>, i: number, n: number): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(meta).map(([k, v]) => [k, Array.isArray(v) && v.length === n ? v[i] : v]),
  );
}

export function formatExplain(index: any): string {
  const lines: string[] = [];
  for (const e of index.inputs) {
    lines.push(
      `${e.source}: ${e.top.map((t: any) => `${t.name} ${(t.probability * 100).toFixed(1)}%`).join(', ')}`,
    );
    for (const m of e.methods)
      lines.push(
        m.error
          ? `  ${m.method}: failed (${m.error})`
          : `  ${m.method}${m.layer ? ` @ ${m.layer}` : ''}: ${m.file} (${m.seconds.toFixed(2)} s)${m.warnings?.length ? ` — ${m.warnings.join('; ')}` : ''}`,
      );
    lines.push(`  panel: ${e.panel}`);
  }
  return lines.join('\n');
}

export function registerExplainCommand(program: Command): void {
  dataOptions(
    program
      .command('explain')
      .description(
        'explanation maps (Grad-CAM family, saliency, SmoothGrad, IG, occlusion, …) of inputs, drawn over them',
      )
      .requiredOption(
        '--model <RUN_DIR|MODEL_JSON>',
        'a run directory, or a tfjs layers model.json (metadata.json labels beside it are used)',
      )
      .option('--image <files>', 'input image file(s), comma-separated')
      .option('--index <n>', 'test image N of --dataset (runs only)', nonNegativeInt('--index'))
      .option('--dataset <name|dir>', 'dataset for --index (default: the run’s)'),
  )
    .option(
      '--method <ids>',
      `method(s), comma-separated, or all (${explainMethods()
        .map((m) => m.id)
        .join(', ')})`,
      'all',
    )
    .option('--layer <name>', 'layer for CAM methods (default: the last spatial layer)')
    .option('--class <c>', "class to explain, or 'auto' for the top prediction", 'auto')
    .option('--top <k>', 'predictions to list', positiveInt('--top'), 5)
    .option('--input-range <lo,hi>', 'pixel range a model.json expects (0,1; MobileNet: -1,1)', '0,1')
    .requiredOption('--out <dir>', 'output directory (replaced atomically)')
    .option('--json', 'print the index as JSON on stdout')
    .addOption(backendOption())
    .action(
      action(async (o: ExplainOptions) => {
        const index = await explainCommand(o);
        process.stdout.write(`${o.json ? JSON.stringify(index) : formatExplain(index)}\n`);
      }),
    );
}
