/**
 * What the page measured of its own latency, on `window.convlens.timings` for `convlens bench
 * --browser` and the browser tests: the network view's maps after an upload, and one Explain run
 * (wall time and each method's seconds as the worker reports them, with its map's range so a test can
 * tell a real map from a blank one). Times are performance.now() milliseconds.
 */
export interface MethodTiming {
  seconds?: number;
  /** Explain click → this map's result in the page. */
  doneMs?: number;
  error?: string;
  /** The budget the map was computed with (budgets.ts), when the method has one. */
  budget?: string;
  /** Every map value finite, and its range. */
  finite?: boolean;
  min?: number;
  max?: number;
}

export interface PageTimings {
  /** The blank prediction and probe after the model loaded (App's warm-up). */
  warmupMs?: number;
  /** When the last upload was sent, and the pixels it produced (the maps are timed for those). */
  uploadStart?: number;
  uploadPixels?: Float32Array;
  /** Upload sent → the server's fitted PNG decoded into pixels. */
  uploadMs?: number;
  /** Upload sent → the network view's maps for it drawn (after the next animation frame). */
  mapsMs?: number;
  /** Of which the probe request to the worker (the rest: upload, decode, prediction, drawing). */
  mapsProbeMs?: number;
  /** Of which drawing the maps (Svelte's update, the canvases, one frame). */
  mapsDrawMs?: number;
  /** Layer grids drawn so far (MapGrid draws those on screen), and how many when mapsMs was taken. */
  gridsDrawn?: number;
  mapsGrids?: number;
  explain?: {
    start: number;
    /** The class explained. */
    target: number;
    /** Click → every method done (absent while running). */
    totalMs?: number;
    methods: Record<string, MethodTiming>;
  };
}

export const timings: PageTimings = {};

/** Resolves after the browser has had a frame to paint what Svelte just put in the DOM. */
export const nextFrame = () => new Promise<void>((r) => requestAnimationFrame(() => r()));

export function mapStats(map: Float32Array): Pick<MethodTiming, 'finite' | 'min' | 'max'> {
  let min = Infinity;
  let max = -Infinity;
  let finite = true;
  for (const v of map) {
    if (!Number.isFinite(v)) {
      finite = false;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { finite, min, max };
}
