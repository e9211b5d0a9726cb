/**
 * The engine worker: loads the model with tfjs (webgpu → webgl → wasm, the first that starts on real
 * graphics hardware: see startBackend) and answers the page's requests (predictions, layer maps,
 * weights, activation maximization, explanations) so the page never blocks. Long jobs report progress and yield between chunks, which is also where a
 * stop request takes effect. Every tensor is disposed before a reply.
 */
import { initBackend, tf } from '@convlens/core/engine/backend';
import { layerFilters } from '@convlens/core/inspect/filters';
import { probeTensors, resolveProbeLayers } from '@convlens/core/inspect/probe';
import { actmaxStyle, STYLE_DEFAULTS } from '@convlens/core/methods/actmax/defaults';
import {
  classObjective,
  filterObjective,
  type Objective,
  unitObjective,
  validateObjectives,
} from '@convlens/core/methods/actmax/objective';
import { type MaximizeResult, maximize } from '@convlens/core/methods/actmax/optimize';
import { explainMethods, getExplainMethod } from '@convlens/core/methods/explain/registry';
import { camHead } from '@convlens/core/models/cam-head';
import { flattenNested } from '@convlens/core/models/flatten-nested';
import { graphAsLayersModel, wrappedGraph } from '@convlens/core/models/graph-layers';
import { modelShardUrl } from '@convlens/core/models/shard-url';
import '@tensorflow/tfjs-backend-webgpu';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { webglRenderer, webglVerdict, webgpuAdapter } from './backend-choice.ts';
import { methodBudget } from './budgets.ts';
import { modelInput } from './input.ts';
import type {
  ActmaxFrame,
  EngineInfo,
  ExplainResult,
  ExplorerPreprocess,
  LayerMaps,
  MaxSettings,
  ModelMeta,
  Reply,
  Request,
  Weights,
} from './protocol.ts';

interface Loaded {
  model: tf.LayersModel;
  /** How [0, 1] pixels become its input (core's Preprocess, as /api/info sent it). */
  preprocess: ExplorerPreprocess;
  shape: [number, number, number];
}

const slots: Record<'main' | 'timeline', Loaded | null> = { main: null, timeline: null };
const stopped = new Set<number>();
let engineInfo: EngineInfo | null = null;

const post = (r: Reply, transfer: Transferable[] = []) => (self as any).postMessage(r, transfer);

/**
 * The wasm backend on every core when the page is cross-origin isolated (convlens serve sends
 * COOP/COEP, which SharedArrayBuffer and so the threaded build need). tfjs's C++ sizes its pool as
 * min(requested, logical cores / 2), assuming hyper-threading: the worker reports twice the cores
 * while the module starts. The thread count is left on `self` for tests to read.
 */
async function startWasm(): Promise<void> {
  const cores = navigator.hardwareConcurrency || 1;
  const isolated = (self as any).crossOriginIsolated === true;
  if (isolated) {
    setThreadsCount(cores);
    Object.defineProperty(navigator, 'hardwareConcurrency', { value: 2 * cores, configurable: true });
  }
  try {
    await initBackend('wasm');
  } finally {
    if (isolated) delete (navigator as any).hardwareConcurrency;
  }
  (self as any).convlensWasmThreads = getThreadsCount();
}

/**
 * Starts a backend: `prefer` (the page's ?backend=) alone, else webgpu → webgl → wasm, passing over
 * webgpu without a hardware adapter and webgl on a software renderer (backend-choice.ts), which would
 * start but run slower than wasm. Says what it passed over and why, for the page's status line.
 */
async function startBackend(prefer?: string): Promise<EngineInfo> {
  if (engineInfo) return engineInfo;
  setWasmPaths(`${self.location.origin}/tfjs-wasm/`);
  const order = prefer ? [prefer] : ['webgpu', 'webgl', 'wasm'];
  const failures: string[] = [];
  const skipped: string[] = [];
  let gpu: Awaited<ReturnType<typeof webgpuAdapter>> | null = null;
  let renderer: string | null = null;
  for (const name of order) {
    if (!prefer && name === 'webgpu') {
      gpu = await webgpuAdapter();
      if (!gpu.ok) {
        skipped.push(`webgpu: ${gpu.why}`);
        continue;
      }
    }
    if (!prefer && name === 'webgl') {
      renderer = webglRenderer();
      const verdict = webglVerdict(renderer, gpu?.ok ?? false);
      if (!verdict.ok) {
        skipped.push(`webgl: ${verdict.why}`);
        continue;
      }
    }
    if (name === 'webgpu' && !(navigator as any).gpu) {
      failures.push('webgpu: not offered by this browser');
      continue;
    }
    try {
      if (name === 'wasm') await startWasm();
      else await initBackend(name as any);
      engineInfo = {
        backend: name,
        threads: name === 'wasm' ? getThreadsCount() : 1,
        crossOriginIsolated: (self as any).crossOriginIsolated === true,
        cores: navigator.hardwareConcurrency || 1,
        renderer: renderer ?? undefined,
        skipped: [...skipped, ...failures],
      };
      return engineInfo;
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message}`);
    }
  }
  throw new Error(`no tfjs backend could start (${[...skipped, ...failures].join('; ')})`);
}

/**
 * Checks model.json and every weight file first, so a broken model gets a specific message; says
 * whether it is a graph model (converted SavedModel) rather than a layers model.
 */
async function checkModelFiles(url: string): Promise<{ graph: boolean }> {
  const res = await fetch(url).catch((e) => {
    throw new Error(`model ${url}: cannot fetch (${(e as Error).message})`);
  });
  if (!res.ok) throw new Error(`model ${url}: HTTP ${res.status} — the server has no such model.json`);
  let json: any;
  try {
    json = await res.json();
  } catch {
    throw new Error(`model ${url}: not valid JSON`);
  }
  if (!json?.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new Error(`model ${url}: not a tfjs model (no modelTopology/weightsManifest)`);
  }
  const base = new URL(url, self.location.href);
  const paths: string[] = json.weightsManifest.flatMap((g: any) => g.paths ?? []);
  // Shards only from the model's own folder on the same origin (never `../` or another host).
  for (const p of paths) modelShardUrl(base.href, p);
  const missing: string[] = [];
  await Promise.all(
    paths.map(async (p) => {
      const r = await fetch(new URL(p, base), { method: 'HEAD' }).catch(() => null);
      if (!r?.ok) missing.push(p);
    }),
  );
  if (missing.length > 0) {
    throw new Error(
      `model ${url}: ${missing.length} of ${paths.length} weight shard(s) missing on the server (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''})`,
    );
  }
  return { graph: json.format === 'graph-model' };
}

/** Frees a model's weights, and the graph a wrapped graph model runs. */
function disposeModel(model: tf.LayersModel): void {
  wrappedGraph(model)?.dispose();
  model.dispose();
}

/** CAM needs a GAP + dense head (convlens cam-head builds one): offered only to models that have one. */
function applicableMethods(model: tf.LayersModel) {
  const hasCamHead = (() => {
    try {
      camHead(model);
      return true;
    } catch {
      return false;
    }
  })();
  return explainMethods().filter((m) => m.id !== 'cam' || hasCamHead);
}

async function load(req: Extract<Request, { type: 'load' }>): Promise<ModelMeta> {
  const engine = await startBackend(req.backend);
  const { graph } = await checkModelFiles(req.modelUrl);
  // A graph model has no layers of its own: wrapped as one layer, predictions and gradient methods work.
  const model = graph
    ? graphAsLayersModel(await tf.loadGraphModel(req.modelUrl), req.modelUrl)
    : flattenNested(await tf.loadLayersModel(req.modelUrl));
  const s = model.inputs[0].shape;
  const shape = s.slice(1) as [number, number, number];
  const slot = req.slot ?? 'main';
  if (slots[slot]) disposeModel(slots[slot].model);
  slots[slot] = { model, preprocess: req.preprocess, shape };
  const layers = graph ? [] : resolveProbeLayers(model);
  const out = model.outputs[0].shape;
  return {
    backend: engine.backend,
    engine,
    graph,
    layers,
    convLayers: model.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.name),
    numClasses: out[out.length - 1] ?? 0,
    methods: applicableMethods(model).map((m) => ({
      id: m.id,
      title: m.title,
      needsLayer: m.needsLayer,
      description: m.description,
    })),
  };
}

function get(slot: 'main' | 'timeline' = 'main'): Loaded {
  const l = slots[slot];
  if (!l) throw new Error('no model loaded');
  return l;
}

/** Pixels in [0, 1] → model input, by the model's own preprocessing (core's applyPreprocess). */
function toInput(l: Loaded, pixels: Float32Array): tf.Tensor4D {
  const [h, w, c] = l.shape;
  return tf.tensor4d(modelInput(l.preprocess, pixels, l.shape), [1, h, w, c]);
}

async function predict(pixels: Float32Array, slot?: 'main' | 'timeline'): Promise<Float32Array> {
  const l = get(slot);
  const out = tf.tidy(() => {
    const y = l.model.predict(toInput(l, pixels)) as tf.Tensor;
    const flat = y.reshape([-1]);
    // Models that end in logits: show probabilities all the same.
    const sum = flat.sum().dataSync()[0];
    const nonNeg = flat.min().dataSync()[0] >= 0;
    return nonNeg && Math.abs(sum - 1) < 1e-3 ? flat : tf.softmax(flat);
  });
  const probs = (await out.data()) as Float32Array;
  out.dispose();
  return probs;
}

/**
 * Every layer's first `maxChannels` maps, channel-major. The layers' outputs are read back whole and
 * the first channels picked out in JS in one pass (with the range): slicing and transposing ~30
 * layers as tfjs ops cost MobileNet as much as its forward pass.
 */
async function probe(req: Extract<Request, { type: 'probe' }>): Promise<LayerMaps[]> {
  const l = get(req.slot);
  const layers = resolveProbeLayers(l.model, req.layers);
  const outs = tf.tidy(() => probeTensors(l.model, layers, toInput(l, req.pixels)));
  try {
    const data = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
    return layers.map((layer, i) => {
      const C = layer.shape[layer.shape.length - 1];
      const k = Math.min(req.maxChannels, C);
      const hw = layer.spatial ? layer.shape[0] * layer.shape[1] : 1;
      const src = data[i];
      // [h·w, C] → the first k channels as [k, h·w].
      const v = new Float32Array(k * hw);
      let min = Infinity;
      let max = -Infinity;
      for (let p = 0; p < hw; p++) {
        const o = p * C;
        for (let c = 0; c < k; c++) {
          const x = src[o + c];
          v[c * hw + p] = x;
          if (x < min) min = x;
          if (x > max) max = x;
        }
      }
      return {
        ...layer,
        channels: k,
        h: layer.spatial ? layer.shape[0] : 1,
        w: layer.spatial ? layer.shape[1] : 1,
        values: v,
        min,
        max,
      };
    });
  } finally {
    for (const t of outs) t.dispose();
  }
}

function weights(layer: string, filter: number): Weights {
  const f = layerFilters(get().model, layer);
  if (filter < 0 || filter >= f.filters) throw new Error(`layer ${layer} has ${f.filters} filters`);
  const n = Math.min(16, f.inChannels);
  return {
    kh: f.kh,
    kw: f.kw,
    inChannels: f.inChannels,
    kernels: Array.from({ length: n }, (_, c) => f.kernel(filter, c)),
    min: f.range.min,
    max: f.range.max,
  };
}

function objectiveOf(s: MaxSettings): Objective {
  const t = s.target;
  if (t.kind === 'class') return classObjective(t.index);
  if (t.kind === 'filter') return filterObjective(t.layer, t.index);
  return unitObjective(t.layer, t.index);
}

/**
 * Activation maximization as one optimization (one Adam state throughout): a preview frame goes to the
 * page every few steps, and a stop request ends it between steps with the image so far. RGB and larger
 * models get Lucid's parameterization and transformation robustness (core actmax/defaults.ts); the
 * page sets steps, tv, jitter and learning rate.
 */
async function maximizeLive(id: number, s: MaxSettings): Promise<ActmaxFrame | null> {
  const l = get();
  let objective = objectiveOf(s);
  let note: string | undefined;
  try {
    validateObjectives(l.model, [objective]);
  } catch (err) {
    // Imported models (MobileNet) may have no layer core recognizes as logits: maximize the
    // probability instead, and say so.
    if (s.target.kind !== 'class' || !/logits/.test((err as Error).message)) throw err;
    objective = classObjective(s.target.index, 'probability');
    validateObjectives(l.model, [objective]);
    note = `${(err as Error).message}: maximizing the softmax probability instead`;
  }
  const style = STYLE_DEFAULTS[actmaxStyle(l.shape)];
  const frame = (r: MaximizeResult): ActmaxFrame => ({
    step: r.stepsDone,
    steps: s.steps,
    image: r.images[0], // [0, 1] pixels: the preprocessing runs inside the graph
    objective: r.objective[0],
    predicted: r.predicted[0],
    note,
  });
  const r = await maximize(
    l.model,
    [objective],
    {
      steps: s.steps,
      tvWeight: s.tv,
      jitter: s.jitter,
      learningRate: s.learningRate,
      parameterization: style.parameterization,
      scale: style.scale,
      rotate: style.rotate,
      noise: style.noise,
      preprocess: l.preprocess,
      preview: {
        every: Math.max(1, Math.min(16, Math.round(s.steps / 24))),
        show: (p) => post({ id, type: 'progress', progress: frame(p) }),
      },
    },
    { shouldStop: () => stopped.has(id) },
  );
  return frame(r);
}

async function explain(req: Extract<Request, { type: 'explain' }>): Promise<ExplainResult> {
  const l = get();
  const method = getExplainMethod(req.method);
  const x = toInput(l, req.pixels);
  // The interactive budget unless the page asked for the full one (budgets.ts); `options` override both.
  const budget = methodBudget(method.id, l.shape[0], l.shape[1]);
  const level = budget ? budget[req.budget ?? 'explorer'] : null;
  const t0 = performance.now();
  try {
    const e = await method.explain({
      model: l.model,
      input: x,
      target: req.target,
      layer: req.layer,
      options: req.options ?? level?.options,
    });
    return {
      map: e.maps[0],
      height: e.height,
      width: e.width,
      signed: e.signed,
      layer: e.layer,
      warnings: e.warnings[0] ?? [],
      seconds: (performance.now() - t0) / 1000,
      budget: req.options ? undefined : level?.label,
      refine: !req.options && budget && req.budget !== 'full' ? budget.full.label : undefined,
    };
  } finally {
    x.dispose();
  }
}

async function handle(id: number, req: Request): Promise<unknown> {
  switch (req.type) {
    case 'load':
      return load(req);
    case 'predict':
      return predict(req.pixels, req.slot);
    case 'probe':
      return probe(req);
    case 'weights':
      return weights(req.layer, req.filter);
    case 'maximize':
      return maximizeLive(id, req.settings);
    case 'explain':
      return explain(req);
    case 'memory':
      return tf.memory().numTensors;
    case 'stop':
      stopped.add(req.target);
      return null;
  }
}

self.onmessage = async (ev: MessageEvent<{ id: number; req: Request }>) => {
  const { id, req } = ev.data;
  try {
    const result = await handle(id, req);
    // Layer maps are megabytes: moved to the page, not copied.
    const moved = req.type === 'probe' ? (result as LayerMaps[]).map((m) => m.values.buffer) : [];
    post({ id, type: 'ok', result }, moved);
  } catch (err) {
    post({ id, type: 'error', message: (err as Error)?.message ?? String(err) });
  } finally {
    stopped.delete(id);
  }
};
