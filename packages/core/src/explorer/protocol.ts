/**
 * What `convlens serve` tells the explorer about the model it serves (GET /api/info). Types only: the
 * server (packages/node/src/serve) writes it, the browser app (packages/web) reads it.
 */
import type { Preprocess, ResizeMode } from '../preprocess/presets.ts';

/** A model's preprocessing with its resize policy always set (what openModel returns). */
export type ExplorerPreprocess = Preprocess & { resize: ResizeMode };

export interface ExplorerInfo {
  title: string;
  /** 'run' when a training run is served (history, snapshots, top-k patches may exist). */
  source: 'run' | 'model';
  /** How the model was opened: run, imported, tfjs, tfjs-url, keras-h5, keras-zip. */
  kind: string;
  /** URL of model.json (tfjs layers or graph format). */
  modelUrl: string;
  /** [height, width, channels]. */
  inputShape: [number, number, number];
  /** One per output unit: the model's own names, else '0', '1', … */
  classNames: string[];
  /** False when classNames are only indices. */
  named: boolean;
  /** How pixels in [0, 1] become model input, and how images of another size are fitted. */
  preprocess: ExplorerPreprocess;
  /** One line describing `preprocess` (describePreprocess). */
  preprocessText: string;
  /** Where class scores are read: 'logits' (and the layer) when found, else the output 'probs'. */
  scores: { kind: 'logits' | 'probs'; from: string };
  /** Notices from opening the model (e.g. a guessed preprocessing). */
  notices: string[];
  history: Record<string, unknown>[] | null;
  snapshots: { epoch: number; modelUrl: string }[];
  topK: { layer: string; url: string; filters: number }[];
}
