/**
 * `convlens bench --browser`: the explorer's own latency in headless chromium (playwright-core driving
 * the system chromium, as the browser tests do) against the real server on 127.0.0.1 serving MobileNet
 * v1. It uploads a photo and reads what the page measured itself (window.convlens.timings): upload →
 * the network view's maps on screen, then one "Explain" with every method (each method's seconds as
 * the page shows them, and the wall time of the whole run), then Grad-CAM alone a few times through the
 * page's engine. Also which backend the page picked, its wasm threads and crossOriginIsolated.
 * Goals from issue 16 are reported, not asserted.
 */
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import type { FastifyInstance } from 'fastify';
import { writeJsonAtomic } from '../io/atomic.ts';
import { ensureAppBuilt } from '../serve/app-build.ts';
import { openServeSource } from '../serve/explorer-info.ts';
import { createExplorerServer } from '../serve/server.ts';
import { findMobilenet } from './mobilenet.ts';

export const BROWSER_GOALS = { all_methods_s: 30, gradcam_s: 0.3, maps_s: 1 };

export interface BrowserMethodRow {
  seconds?: number;
  /** Explain click → this method's map shown (methods run cheapest family first). */
  done_s?: number;
  error?: string;
  /** The explorer's interactive budget it ran at (packages/web/src/lib/budgets.ts), if it has one. */
  budget?: string;
  /** Every value of the map finite, and the map not constant (max > min). */
  finite?: boolean;
  nonConstant?: boolean;
}

export interface BrowserBench {
  model: string;
  image: string;
  chromium: string;
  /** What the page's engine started (its status line). */
  backend: string;
  threads: number;
  cores: number;
  crossOriginIsolated: boolean;
  /** Backends passed over before it, with why (e.g. webgl: software renderer (… SwiftShader …)). */
  skipped: string[];
  /** The webgl renderer string the page read (null when it was not looked at). */
  renderer: string | null;
  /** The tfjs wasm binaries the page fetched (the threaded SIMD one when isolated). */
  wasm_files: string[];
  /** Requests that failed or answered ≥ 400 (COEP blocks show here). */
  failed_requests: string[];
  /** Page load → model loaded and the backend started. */
  load_s: number;
  /** The page's warm-up after the model loaded (one blank prediction and probe), before the upload. */
  warmup_s: number;
  /** Upload sent → the network view's maps drawn. */
  maps_s: number;
  /** Of which the worker's probe (every layer's maps) as the page waited for it. */
  maps_probe_s: number;
  /** Of which the upload (the server fits the photo to 224×224, the page decodes its PNG). */
  maps_upload_s: number;
  /** Of which drawing them (Svelte's update, the layer grids in view, one frame). */
  maps_draw_s: number;
  /** Layer grids drawn when the maps were timed (those in view; the rest draw when scrolled to). */
  maps_grids: number;
  /** Grad-CAM's seconds in the Explain run (the first method, cold) and the median of warm runs alone. */
  gradcam_s: number;
  gradcam_warm_s: number;
  /** Explain click → every method done (wall time in the page). */
  all_methods_s: number;
  methods: Record<string, BrowserMethodRow>;
  /** Per goal: the measure within it. */
  goals: { all_methods: boolean; gradcam: boolean; maps: boolean };
  /** 1-minute load average when the run started and ended (the machine may be busy). */
  load_average: [number, number];
}

export interface BrowserBenchOptions {
  /** MobileNet alpha under ../shared/models (default 0.75), or `modelDir`. */
  alpha?: string;
  modelDir?: string;
  image?: string;
  chromium?: string;
  /** Only these methods (default: every method the page offers). */
  methods?: string[];
  /** Warm Grad-CAM runs after Explain (median), default 3. */
  gradcamReps?: number;
  /** Each wait's limit, default 600 s (all methods on a busy machine). */
  timeoutMs?: number;
  /** Save a screenshot of the explain view here. */
  screenshot?: string;
}

export const DEFAULT_CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function findImage(name: string): string | undefined {
  return [
    resolve(import.meta.dirname, '../../../../../shared/images', name),
    resolve(process.cwd(), '../shared/images', name),
  ].find((p) => existsSync(p));
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export async function measureBrowser(
  opts: BrowserBenchOptions,
  log: (line: string) => void,
): Promise<BrowserBench> {
  const alpha = opts.alpha ?? '0.75';
  const modelDir = opts.modelDir ?? findMobilenet(alpha);
  if (!modelDir)
    throw new Error(`mobilenet_v1_${alpha}_224 not found (set CONVLENS_MODELS_DIR or keep ../shared/models)`);
  const image = opts.image ?? findImage('coffee.png');
  if (!image || !existsSync(image)) throw new Error(`image ${opts.image ?? 'coffee.png'} not found`);
  const executablePath = opts.chromium ?? DEFAULT_CHROMIUM;
  if (!existsSync(executablePath))
    throw new Error(`chromium not found at ${executablePath} (set CHROMIUM_PATH)`);
  const timeout = opts.timeoutMs ?? 600_000;
  const load0 = loadavg()[0];

  // The server only reads the model (the browser runs it): any backend will do; cpu if none started.
  if (!tf.getBackend()) await initBackend('cpu');
  const source = await openServeSource(modelDir);
  const appDir = await ensureAppBuilt(log);
  const app: FastifyInstance = createExplorerServer({ source, appDir });
  await app.listen({ port: 0, host: '127.0.0.1' });
  // A dev dependency of the repo, loaded only here: `convlens bench` without --browser never needs it.
  const { chromium } = await import('playwright-core').catch(() => {
    throw new Error('bench --browser needs playwright-core (npm install playwright-core)');
  });
  const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Under COEP require-corp a resource without the right headers fails to load (ERR_BLOCKED_BY_RESPONSE).
    const failed: string[] = [];
    const wasmFiles = new Set<string>();
    page.on('requestfailed', (r) => {
      const why = r.failure()?.errorText;
      // The worker's HEAD checks of the weight shards never read a body: chromium calls that aborted.
      if (!(r.method() === 'HEAD' && why === 'net::ERR_ABORTED')) failed.push(`${r.url()}: ${why}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.url()}: HTTP ${r.status()}`);
      const m = /\/tfjs-wasm\/([^?]+)$/.exec(r.url());
      if (m) wasmFiles.add(m[1]);
    });
    const port = (app.server.address() as { port: number }).port;
    const query = opts.methods ? `?methods=${opts.methods.join(',')}` : '';
    log(`browser: chromium ${browser.version()} on http://127.0.0.1:${port}/${query} (${source.info.title})`);
    const t0 = Date.now();
    await page.goto(`http://127.0.0.1:${port}/${query}`);
    await page.waitForSelector('[data-testid=backend-status]', { timeout });
    const load_s = (Date.now() - t0) / 1000;
    const engine = await page.evaluate(() => (window as any).convlens.backend);
    log(
      `browser: tfjs ${engine.backend}, ${engine.threads} thread(s), crossOriginIsolated ${engine.crossOriginIsolated}`,
    );

    // The page warms the model up (one blank prediction and probe) while it waits for a first input.
    const warmupMs = await waitFor(page, () => (window as any).convlens.timings.warmupMs, timeout, errors);
    await page.locator('[data-testid=upload]').setInputFiles(image);
    const mapsMs = await waitFor(page, () => (window as any).convlens.timings.mapsMs, timeout, errors);
    const [mapsProbeMs, uploadMs, drawMs, mapsGrids]: number[] = await page.evaluate(() => [
      (window as any).convlens.timings.mapsProbeMs,
      (window as any).convlens.timings.uploadMs,
      (window as any).convlens.timings.mapsDrawMs,
      (window as any).convlens.timings.mapsGrids ?? 0,
    ]);
    log(`browser: maps ${round(mapsMs / 1000)} s after the upload; Explain …`);

    await page.getByRole('tab', { name: 'Explanations' }).click();
    await page.locator('[data-testid=explain-view]').getByRole('button', { name: 'Explain' }).click();
    await waitFor(page, () => (window as any).convlens.timings.explain?.totalMs, timeout, errors);
    const explain = await page.evaluate(() => (window as any).convlens.timings.explain);
    if (opts.screenshot) await page.screenshot({ path: opts.screenshot, fullPage: true });

    // Grad-CAM alone, warm, through the page's engine on the same pixels and class.
    const warm: number[] = [];
    for (let i = 0; i < (opts.gradcamReps ?? 3); i++) {
      warm.push(
        await page.evaluate(async () => {
          const c = (window as any).convlens;
          const r = await c.engine.call({
            type: 'explain',
            method: 'gradcam',
            pixels: c.timings.uploadPixels,
            target: c.timings.explain.target,
          });
          return r.seconds as number;
        }),
      );
    }
    if (errors.length > 0) throw new Error(`the page failed: ${errors[0]}`);

    const methods: Record<string, BrowserMethodRow> = {};
    for (const [id, m] of Object.entries(explain.methods as Record<string, any>)) {
      methods[id] = m.error
        ? { error: m.error }
        : {
            seconds: round(m.seconds),
            done_s: round(m.doneMs / 1000, 2),
            ...(m.budget ? { budget: m.budget } : {}),
            finite: m.finite,
            nonConstant: m.max > m.min,
          };
    }
    const maps_s = round(mapsMs / 1000);
    const all_methods_s = round(explain.totalMs / 1000, 2);
    const gradcam_s = methods.gradcam?.seconds ?? Number.NaN;
    return {
      model: source.info.title,
      image,
      chromium: browser.version(),
      backend: engine.backend,
      threads: engine.threads,
      cores: engine.cores,
      crossOriginIsolated: engine.crossOriginIsolated,
      skipped: engine.skipped,
      renderer: engine.renderer ?? null,
      wasm_files: [...wasmFiles].sort(),
      failed_requests: failed,
      load_s: round(load_s, 2),
      warmup_s: round(warmupMs / 1000),
      maps_s,
      maps_probe_s: round(mapsProbeMs / 1000),
      maps_upload_s: round(uploadMs / 1000),
      maps_draw_s: round(drawMs / 1000),
      maps_grids: mapsGrids,
      gradcam_s,
      gradcam_warm_s: round(median(warm)),
      all_methods_s,
      methods,
      goals: {
        all_methods: all_methods_s <= BROWSER_GOALS.all_methods_s,
        gradcam: gradcam_s <= BROWSER_GOALS.gradcam_s,
        maps: maps_s <= BROWSER_GOALS.maps_s,
      },
      load_average: [round(load0, 2), round(loadavg()[0], 2)],
    };
  } finally {
    await browser.close();
    await app.close();
  }
}

/** Polls the page until `fn` returns a number (a page error ends the wait with that error). */
async function waitFor(
  page: import('playwright-core').Page,
  fn: () => number | undefined,
  timeout: number,
  errors: string[],
): Promise<number> {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    if (errors.length > 0) throw new Error(`the page failed: ${errors[0]}`);
    const v = await page.evaluate(fn);
    if (typeof v === 'number') return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`browser bench: no result within ${timeout / 1000} s`);
}

export function formatBrowserBench(b: BrowserBench): string[] {
  const goal = (ok: boolean) => (ok ? 'met' : 'missed');
  const rows = [
    ['browser measure', 'value', 'goal'],
    ['maps after upload (s)', String(b.maps_s), `≤ ${BROWSER_GOALS.maps_s} ${goal(b.goals.maps)}`],
    ['  of which the upload (s)', String(b.maps_upload_s), ''],
    ['  of which the probe (s)', String(b.maps_probe_s), ''],
    ['  of which drawing (s)', String(b.maps_draw_s), `${b.maps_grids} layer grids in view`],
    [
      'Grad-CAM, in Explain (s)',
      String(b.gradcam_s),
      `≤ ${BROWSER_GOALS.gradcam_s} ${goal(b.goals.gradcam)}`,
    ],
    ['Grad-CAM, warm median (s)', String(b.gradcam_warm_s), ''],
    [
      `all ${Object.keys(b.methods).length} methods (s)`,
      String(b.all_methods_s),
      `≤ ${BROWSER_GOALS.all_methods_s} ${goal(b.goals.all_methods)}`,
    ],
    // In the order they ran (cheap ones first), each with when its map was on screen.
    ...Object.entries(b.methods).map(([id, m]) => [
      `  ${id}`,
      m.error ? `error: ${m.error}` : `${m.seconds}`,
      `${m.error || (m.finite && m.nonConstant) ? `shown at ${m.done_s} s` : 'blank or non-finite map'}${m.budget ? ` (${m.budget})` : ''}`,
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return [
    `${b.model} in chromium ${b.chromium}: tfjs ${b.backend}, ${b.threads} thread(s) of ${b.cores} cores, crossOriginIsolated ${b.crossOriginIsolated}; load average ${b.load_average.join(' → ')} on ${cpus().length} cores`,
    ...(b.skipped.length ? [`passed over: ${b.skipped.join('; ')}`] : []),
    ...rows.map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    ),
  ];
}

/**
 * `convlens bench --browser`: the browser measures added to the bench JSON under `browser` (the file
 * runBench wrote is rewritten with them), or with `report` absent (--browser-only) a JSON of its own.
 */
export async function addBrowserBench<R extends { file?: string }>(
  report: R | null,
  opts: BrowserBenchOptions & { outDir: string },
  log: (line: string) => void,
): Promise<R & { date: string; browser: BrowserBench; file: string }> {
  const browser = await measureBrowser(opts, log);
  const date = (report as any)?.date ?? new Date().toISOString();
  const file = report?.file ?? join(opts.outDir, `${date.replace(/[:.]/g, '-')}-browser.json`);
  const { file: _, ...rest } = (report ?? {}) as R;
  const out = { ...(rest as R), date, browser };
  await writeJsonAtomic(file, out);
  return { ...out, file };
}
