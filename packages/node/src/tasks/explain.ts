/**
 * The explain job: explanation maps of one or more inputs for any model, by every registered method or
 * the ones asked for, each drawn over its input with core's overlay renderer and side by side in a
 * panel, with the top-k predictions (class names) and an index.json, written atomically to one folder.
 */

import { join } from 'node:path';
import { tf } from '@convlens/core/engine/backend';
import { predictBatches } from '@convlens/core/eval/predict';
import { checkStop, type JobHooks } from '@convlens/core/jobs/job';
import { explainMethods, getExplainMethod } from '@convlens/core/methods/explain/registry';
import type { ExplainMethod, Explanation } from '@convlens/core/methods/explain/types';
import { grid, imageFromBytes, type RGBAImage, upscale } from '@convlens/core/render/image';
import { drawExplanation } from '@convlens/core/render/overlay';
import { checkOutDir, FigureSet, safeName } from '../figures/figure-set.ts';
import { writeDirAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { labelledPanel } from '../io/png.ts';
import { mapClasses } from '../open/class-map.ts';
import type { OpenedModel } from '../open/open-model.ts';
import type { ModelInput } from './model-input.ts';

export interface ExplainOptions {
  /** Methods to run; 'all' runs every registered one and records a failing method's error instead of throwing. */
  methods: ExplainMethod[] | 'all';
  /** Layer for layer-based methods (default: each method's own choice); CAM methods take a list 'a,b,c'. */
  layer?: string;
  /** Method options, given to every method; each reads its own keys (augSmooth, eigenSmooth, fusion, batch, seed, …). */
  options?: Record<string, unknown>;
  /** 'auto' (each input's top prediction), a class index, or a class name (default 'auto'). */
  class?: string;
  /** Predictions listed per input (default 5). */
  top?: number;
  /** Output folder, replaced atomically. */
  out: string;
}

export interface Prediction {
  class: number;
  name: string;
  probability: number;
}

export interface ExplainMethodEntry {
  method: string;
  file?: string;
  layer?: string;
  signed?: boolean;
  warnings?: string[];
  seconds?: number;
  meta?: Record<string, unknown>;
  error?: string;
}

export interface ExplainInputEntry {
  source: string;
  label?: number;
  labelName?: string;
  top: Prediction[];
  target: number;
  targetName: string;
  methods: ExplainMethodEntry[];
  panel: string;
}

export interface ExplainIndex {
  model: string;
  targets: number[];
  inputs: ExplainInputEntry[];
  figures: unknown[];
}

/** Method ids (comma-separated) or 'all' → methods; unknown ids throw one line naming the valid ones. */
export function pickMethods(spec: string): ExplainMethod[] | 'all' {
  return spec === 'all' ? 'all' : spec.split(',').map((id) => getExplainMethod(id.trim()));
}

/** A class index or name (case, '_' and ' ' ignored; ImageNet synonyms count) → the model's class index. */
export function resolveClass(spec: string, model: OpenedModel): number {
  const k = model.numClasses;
  if (/^\d+$/.test(spec)) {
    const c = Number(spec);
    if (c >= k)
      throw new Error(
        `--class ${spec} is out of range: the model has ${k} classes (0–${k - 1}), or give a class name or 'auto'`,
      );
    return c;
  }
  if (!model.named)
    throw new Error(`--class ${spec}: the model has no class names; give an index 0–${k - 1} or 'auto'`);
  try {
    const c = mapClasses([spec], model.classNames, true, { strict: true, source: '--class' }).toModel[0];
    if (c >= 0) return c;
  } catch {}
  throw new Error(
    `--class '${spec}' is not one of the model's ${k} class names (e.g. ${model.classNames
      .slice(0, 3)
      .map((n) => `'${n.split(',')[0]}'`)
      .join(', ')}); give a name, an index 0–${k - 1} or 'auto'`,
  );
}

/** Softmax probabilities per input (from the logits where the model has them), in inference mode. */
async function probabilities(model: OpenedModel, inputs: ModelInput[]): Promise<Float32Array> {
  const x = new Float32Array(inputs.reduce((a, i) => a + i.x.length, 0));
  let o = 0;
  for (const i of inputs) {
    x.set(i.x, o);
    o += i.x.length;
  }
  for await (const p of predictBatches(model.model, [{ x, size: inputs.length }])) return p.probs;
  throw new Error('no predictions');
}

interface MethodResult {
  method: ExplainMethod;
  explanation?: Explanation;
  error?: string;
  seconds: number;
}

/** Runs the methods on `inputs` and writes the figures and index.json to `o.out`. Progress counts methods. */
export async function explain(
  model: OpenedModel,
  inputs: ModelInput[],
  o: ExplainOptions,
  hooks: JobHooks = {},
): Promise<ExplainIndex> {
  if (inputs.length === 0) throw new Error('explain needs at least one input');
  await checkOutDir(o.out);
  const methods = o.methods === 'all' ? explainMethods() : o.methods;
  const [H, W, C] = model.inputShape;
  const k = model.numClasses;
  const names = model.classNames;
  const fixed = o.class === undefined || o.class === 'auto' ? undefined : resolveClass(o.class, model);
  const probs = await probabilities(model, inputs);
  const top = inputs.map((_, i) =>
    Array.from(probs.subarray(i * k, (i + 1) * k), (p, c) => ({ class: c, name: names[c], probability: p }))
      .sort((a, b) => b.probability - a.probability)
      .slice(0, Math.min(o.top ?? 5, k)),
  );
  const targets = inputs.map((_, i) => fixed ?? top[i][0].class);

  const results: MethodResult[] = [];
  const x = tf.tensor4d(Float32Array.from(inputs.flatMap((i) => Array.from(i.x))), [inputs.length, H, W, C]);
  try {
    for (const [n, m] of methods.entries()) {
      checkStop(hooks, 'explain');
      hooks.onProgress?.(n, methods.length, { method: m.id });
      const t0 = performance.now();
      try {
        const e = await m.explain({
          model: model.model,
          input: x,
          target: targets,
          layer: m.needsLayer ? o.layer : undefined,
          options: o.options,
        });
        results.push({ method: m, explanation: e, seconds: (performance.now() - t0) / 1000 });
      } catch (err: any) {
        if (o.methods !== 'all') throw err;
        results.push({
          method: m,
          error: err.message.split('\n')[0],
          seconds: (performance.now() - t0) / 1000,
        });
      }
    }
    hooks.onProgress?.(methods.length, methods.length, { method: 'done' });
  } finally {
    x.dispose();
  }

  const scale = Math.max(1, Math.round(224 / Math.max(H, W)));
  const index: ExplainIndex = { model: model.source, targets, inputs: [], figures: [] };
  const used = new Set<string>();
  await writeDirAtomic(o.out, async (dir) => {
    const figs = new FigureSet(dir);
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i];
      const base = imageFromBytes(input.bytes, W, H, C);
      const name = uniqueName(safeName(input.source.split('/').pop() ?? `input${i}`), used);
      const t = targets[i];
      const caption = [
        `${names[t]} p=${probs[i * k + t].toFixed(3)}`,
        ...(input.label !== undefined ? [`true: ${names[input.label]}`] : []),
      ];
      const panels: RGBAImage[] = [
        await labelledPanel(upscale(base, scale), { title: 'input', caption, minWidth: 180 }),
      ];
      const entry: ExplainInputEntry = {
        source: input.source,
        ...(input.label !== undefined ? { label: input.label, labelName: names[input.label] } : {}),
        top: top[i],
        target: t,
        targetName: names[t],
        methods: [],
        panel: '',
      };
      for (const r of results) {
        const e = r.explanation;
        if (!e) {
          entry.methods.push({ method: r.method.id, error: r.error });
          continue;
        }
        const file = `${name}-${safeName(r.method.id)}.png`;
        const panel = await labelledPanel(drawExplanation(e, i, base, scale), {
          title: `${r.method.title}${e.layer ? ` @ ${e.layer}` : ''}`,
          caption: [caption[0], ...(e.warnings[i] ?? [])],
          minWidth: 180,
        });
        await figs.png({ file, kind: 'explanation', method: r.method.id, class: t, layer: e.layer }, panel);
        panels.push(panel);
        entry.methods.push({
          method: r.method.id,
          file,
          layer: e.layer,
          signed: e.signed,
          warnings: e.warnings[i],
          seconds: r.seconds,
          meta: perInput(e.meta, i, inputs.length),
        });
      }
      entry.panel = `${name}-panel.png`;
      await figs.png(
        { file: entry.panel, kind: 'panel', class: t },
        grid(panels, { columns: Math.min(panels.length, 6), gap: 4 }),
      );
      index.inputs.push(entry);
    }
    index.figures = figs.entries;
    await writeJsonAtomic(join(dir, 'index.json'), index);
  });
  return index;
}

/** Two inputs with the same file name (a/cat.png, b/cat.png) get distinct figure names. */
function uniqueName(name: string, used: Set<string>): string {
  let out = name;
  for (let n = 2; used.has(out); n++) out = `${name}-${n}`;
  used.add(out);
  return out;
}

/** Per-input entries of a method's metadata arrays (one value per input), scalars as they are. */
function perInput(meta: Record<string, unknown>, i: number, n: number): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(meta).map(([k, v]) => [k, Array.isArray(v) && v.length === n ? v[i] : v]),
  );
}
