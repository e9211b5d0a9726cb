/** Messages between the page and the engine worker (all tfjs work happens in the worker). */

import type { ExplorerInfo, ExplorerPreprocess } from '@convlens/core/explorer/protocol';

/** GET /api/info, defined once in core (the server writes it, the app reads it). */
export type { ExplorerInfo, ExplorerPreprocess };

export interface LayerMeta {
  name: string;
  className: string;
  /** Output shape without the batch axis. */
  shape: number[];
  spatial: boolean;
}

/** The backend the engine worker started, and why (the page's status line; tests read it). */
export interface EngineInfo {
  backend: string;
  /** tfjs wasm threads (1 on other backends, or when the page is not cross-origin isolated). */
  threads: number;
  crossOriginIsolated: boolean;
  /** navigator.hardwareConcurrency in the worker. */
  cores: number;
  /** The webgl renderer string, when it was looked at. */
  renderer?: string;
  /** Backends passed over or failed before this one, each with why. */
  skipped: string[];
}

export interface ModelMeta {
  backend: string;
  engine: EngineInfo;
  /** A graph model (converted SavedModel) wrapped as one layer: no layers to show or probe. */
  graph: boolean;
  layers: LayerMeta[];
  convLayers: string[];
  numClasses: number;
  /** Explanation methods registered in @convlens/core (id + title). */
  methods: { id: string; title: string; needsLayer: boolean; description: string }[];
}

/** One probed layer: the first `channels` maps (spatial) or units (dense), channel-major. */
export interface LayerMaps extends LayerMeta {
  channels: number;
  h: number;
  w: number;
  values: Float32Array;
  min: number;
  max: number;
}

export type MaxTarget =
  | { kind: 'class'; index: number }
  | { kind: 'filter'; layer: string; index: number }
  | { kind: 'unit'; layer: string; index: number };

export interface MaxSettings {
  target: MaxTarget;
  steps: number;
  tv: number;
  jitter: number;
  learningRate: number;
}

export type Request =
  | {
      type: 'load';
      modelUrl: string;
      preprocess: ExplorerPreprocess;
      backend?: string;
      slot?: 'main' | 'timeline';
    }
  | { type: 'predict'; pixels: Float32Array; slot?: 'main' | 'timeline' }
  | {
      type: 'probe';
      pixels: Float32Array;
      maxChannels: number;
      layers?: string[];
      slot?: 'main' | 'timeline';
    }
  | { type: 'weights'; layer: string; filter: number }
  | { type: 'maximize'; settings: MaxSettings }
  | {
      type: 'explain';
      method: string;
      pixels: Float32Array;
      target: number;
      layer?: string;
      /** 'explorer' (default): the interactive budget of budgets.ts; 'full': core's default budget. */
      budget?: 'explorer' | 'full';
      /** Method options instead of either budget (tests, benchmarks). */
      options?: Record<string, unknown>;
    }
  | { type: 'stop'; target: number }
  /** tfjs's live tensor count in the worker (tests check it does not grow). */
  | { type: 'memory' };

export interface Weights {
  kh: number;
  kw: number;
  inChannels: number;
  /** Per input channel (at most 16), kh·kw weights of the filter. */
  kernels: Float32Array[];
  min: number;
  max: number;
}

export interface ActmaxFrame {
  step: number;
  steps: number;
  /** H·W·C in [0, 1]. */
  image: Float32Array;
  objective: number;
  predicted: number;
  /** Set when the target had to be changed (e.g. probability instead of a missing logit). */
  note?: string;
}

export interface ExplainResult {
  map: Float32Array;
  height: number;
  width: number;
  signed: boolean;
  layer?: string;
  warnings: string[];
  seconds: number;
  /** The budget the map was computed with ("6 noisy samples"), when the method has budgets. */
  budget?: string;
  /** The full budget a refine would use, when this map was computed at the interactive one. */
  refine?: string;
}

export type Reply =
  | { id: number; type: 'ok'; result: unknown }
  | { id: number; type: 'progress'; progress: unknown }
  | { id: number; type: 'error'; message: string };
