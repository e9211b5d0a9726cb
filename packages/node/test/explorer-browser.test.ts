/**
 * The explorer in a real browser: playwright-core driving Debian's chromium (headless, --no-sandbox)
 * against `createExplorerServer` over a pw11 run with two epoch snapshots. Draws strokes and checks the
 * prediction changes, opens every view and reads canvas pixels back (non-blank), drives the tabs with
 * the keyboard, and checks the specific in-page errors for a 404 model, missing shards and a non-image
 * upload. Screenshots (laptop and phone width) go to $CONVLENS_SHOTS or a temp folder.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { applyPreprocess } from '@convlens/core/preprocess/presets';
import type { FastifyInstance } from 'fastify';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImage } from '../src/io/png.ts';
import { ensureAppBuilt } from '../src/serve/app-build.ts';
import { openServeSource } from '../src/serve/explorer-info.ts';
import { createExplorerServer } from '../src/serve/server.ts';
import { smallLayersModel, writeGraphModel } from './graph-fixture.ts';
import { writeTinyModel, writeTinyRun } from './serve-helpers.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHARED = join(import.meta.dirname, '../../../../shared');
const MOBILENET = join(SHARED, 'models/mobilenet_v1_0.25_224');
const COFFEE = join(SHARED, 'images/coffee.png');
const hasChromium = existsSync(CHROMIUM);

let tmp: string;
let shots: string;
let browser: Browser;
const servers: FastifyInstance[] = [];

async function serve(source: Awaited<ReturnType<typeof openServeSource>>, appDir: string): Promise<string> {
  const app = createExplorerServer({ source, appDir });
  await app.listen({ port: 0, host: '127.0.0.1' });
  servers.push(app);
  return `http://127.0.0.1:${(app.server.address() as any).port}/`;
}

/** Count of canvases matching `selector` that have more than one colour. */
const nonBlank = (page: Page, selector: string) =>
  page.$$eval(
    selector,
    (els) =>
      (els as HTMLCanvasElement[]).filter((c) => {
        if (!c.width || !c.height) return false;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        for (let i = 4; i < d.length; i += 4) {
          if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) return true;
        }
        return false;
      }).length,
  );

const predictionText = (page: Page) => page.locator('[data-testid=predictions] ol').innerText();

async function stroke(page: Page, points: [number, number][]) {
  const box = (await page.locator('[data-testid=draw-canvas]').boundingBox())!;
  const at = ([x, y]: [number, number]) => [box.x + x * box.width, box.y + y * box.height] as const;
  await page.mouse.move(...at(points[0]));
  await page.mouse.down();
  for (const p of points.slice(1)) await page.mouse.move(...at(p), { steps: 8 });
  await page.mouse.up();
}

let url: string;
let appDir: string;

beforeAll(async () => {
  if (!hasChromium) return;
  appDir = await ensureAppBuilt();
  tmp = await mkdtemp(join(tmpdir(), 'convlens-explorer-'));
  shots = process.env.CONVLENS_SHOTS ?? join(tmp, 'shots');
  await mkdir(shots, { recursive: true });
  await writeTinyRun(join(tmp, 'run'), { zoo: 'pw11', snapshots: [1, 2] });
  url = await serve(await openServeSource(join(tmp, 'run')), appDir);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  for (const s of servers) await s.close();
  if (tmp && !process.env.CONVLENS_SHOTS) await rm(tmp, { recursive: true, force: true });
});

describe.skipIf(!hasChromium)('explorer in chromium', () => {
  it('predicts while drawing, shows every view with non-blank canvases, no console errors', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page: ${e.message}`));
    await page.goto(url);
    await page.waitForSelector('[data-testid=backend]', { timeout: 60_000 });

    // A "1" then a bar across its top (a "7"): the prediction appears, then changes.
    await stroke(page, [
      [0.55, 0.2],
      [0.5, 0.5],
      [0.45, 0.8],
    ]);
    await expect
      .poll(() => page.locator('[data-testid=predictions] li').count(), { timeout: 30_000 })
      .toBe(5);
    const first = await predictionText(page);
    await stroke(page, [
      [0.25, 0.22],
      [0.75, 0.2],
    ]);
    await expect.poll(() => predictionText(page), { timeout: 30_000 }).not.toBe(first);

    // Network view: every layer's maps as one grid canvas with a button per map (MapGrid), then one
    // filter's detail with weights and act-max.
    await expect
      .poll(() => nonBlank(page, '[data-testid=network-view] .columns .grid canvas'), { timeout: 30_000 })
      .toBeGreaterThanOrEqual(3);
    expect(await page.locator('[data-testid=network-view] .grid button').count()).toBeGreaterThan(20);
    await page.screenshot({ path: join(shots, 'laptop-network.png'), fullPage: true });
    await page.getByRole('button', { name: 'conv1 filter 3: show details' }).click();
    const detail = page.locator('[data-testid=filter-detail]');
    await expect.poll(() => nonBlank(page, '[data-testid=filter-detail] .kernels canvas')).toBe(1);
    await detail.getByRole('button', { name: 'Compute activation maximization' }).click();
    await expect.poll(() => detail.innerText(), { timeout: 90_000 }).toMatch(/step 64\/64/);
    expect(await nonBlank(page, '[data-testid=filter-detail] canvas')).toBeGreaterThanOrEqual(3);
    await detail.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(shots, 'laptop-filter-detail.png'), fullPage: true });

    // Tabs work from the keyboard: arrow right from Network selects Explanations.
    await page.getByRole('tab', { name: 'Network' }).focus();
    await page.keyboard.press('ArrowRight');
    await expect
      .poll(() => page.getByRole('tab', { name: 'Explanations' }).getAttribute('aria-selected'))
      .toBe('true');
    const explain = page.locator('[data-testid=explain-view]');
    await explain.getByRole('button', { name: 'Explain' }).click();
    // Every registered method in turn (small inputs run core's default budgets; seconds on threaded wasm).
    await expect.poll(() => explain.getByText('computing…').count(), { timeout: 300_000 }).toBe(0);
    const cards = await explain.locator('figure.card').all();
    expect(cards.length).toBeGreaterThanOrEqual(6);
    let computed = 0;
    for (const card of cards) {
      const text = await card.innerText();
      expect(text).not.toMatch(/error/i);
      if (text.includes('not available')) continue;
      expect(await card.locator('canvas').count()).toBe(1);
      computed++;
    }
    expect(await nonBlank(page, '[data-testid=explain-view] canvas')).toBe(computed);
    if (computed > 0) {
      await explain.getByLabel(/Overlay opacity/).fill('0.9');
    }
    await page.screenshot({ path: join(shots, 'laptop-explain.png'), fullPage: true });

    // Maximization playground: start, watch it evolve, stop.
    await page.getByRole('tab', { name: 'Maximization' }).click();
    const max = page.locator('[data-testid=maximize-view]');
    await max.getByLabel(/Class: /).fill('3');
    await max.getByRole('button', { name: 'Start' }).click();
    await expect.poll(() => max.innerText(), { timeout: 60_000 }).toMatch(/step \d+\/128/);
    await max.getByRole('button', { name: 'Stop' }).click();
    await expect.poll(() => max.getByRole('button', { name: 'Start' }).count(), { timeout: 30_000 }).toBe(1);
    const stoppedAt = Number(/step (\d+)\/128/.exec(await max.innerText())![1]);
    expect(stoppedAt).toBeLessThan(128);
    expect(await nonBlank(page, '[data-testid=maximize-view] canvas')).toBe(1);
    await page.screenshot({ path: join(shots, 'laptop-maximize.png'), fullPage: true });

    // Training timeline: two snapshots; moving the slider (keyboard) loads the other epoch.
    await page.getByRole('tab', { name: 'Training timeline' }).click();
    const tl = page.locator('[data-testid=timeline-view]');
    await expect.poll(() => tl.innerText(), { timeout: 30_000 }).toMatch(/Epoch 2 \(2 of 2/);
    // 32 conv1 maps; untrained ReLU filters may be all zero (uniform), so only some need structure.
    await expect.poll(() => tl.locator('canvas').count(), { timeout: 30_000 }).toBe(32);
    await expect.poll(() => nonBlank(page, '[data-testid=timeline-view] canvas')).toBeGreaterThan(0);
    const epoch2 = await tl.locator('ol').innerText();
    await tl.getByLabel(/Epoch/).focus();
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => tl.innerText()).toMatch(/Epoch 1 \(1 of 2/);
    await expect.poll(() => tl.locator('ol').innerText(), { timeout: 30_000 }).not.toBe(epoch2);
    await page.screenshot({ path: join(shots, 'laptop-timeline.png'), fullPage: true });

    // No tensors left behind in the worker: switching epochs twice and drawing again (prediction,
    // feature maps) returns to the same live tensor count.
    const tensors = () => page.evaluate(() => (window as any).convlens.engine.call({ type: 'memory' }));
    const baseline = await tensors();
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => tl.innerText()).toMatch(/Epoch 2 \(2 of 2/);
    await expect.poll(() => tl.locator('ol').innerText(), { timeout: 30_000 }).toBe(epoch2);
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => tl.locator('ol').innerText(), { timeout: 30_000 }).not.toBe(epoch2);
    await page.getByRole('tab', { name: 'Network' }).click();
    for (let i = 0; i < 3; i++) {
      const before = await predictionText(page);
      await stroke(page, [
        [0.2 + 0.2 * i, 0.6],
        [0.3 + 0.2 * i, 0.9],
      ]);
      await expect.poll(() => predictionText(page), { timeout: 30_000 }).not.toBe(before);
    }
    await expect.poll(tensors, { timeout: 20_000 }).toBe(baseline);

    // Phone width: one column, nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('tab', { name: 'Network' }).click();
    await expect
      .poll(() => nonBlank(page, '[data-testid=network-view] .columns .grid canvas'))
      .toBeGreaterThanOrEqual(1);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(1);
    await page.screenshot({ path: join(shots, 'phone-network.png'), fullPage: true });

    // Every control is labelled.
    const unlabelled = await page.$$eval(
      'input, select, button',
      (els) =>
        els.filter(
          (e) =>
            !(e as HTMLElement).innerText?.trim() && !e.getAttribute('aria-label') && !e.closest('label'),
        ).length,
    );
    expect(unlabelled).toBe(0);
    expect(problems).toEqual([]);
    await page.close();
  }, 480_000);

  it('runs on the wasm backend too (binaries served at /tfjs-wasm/), with the same prediction as the default', async () => {
    const probs = async (query: string) => {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      await page.goto(`${url}${query}`);
      await page.waitForSelector('[data-testid=backend]', { timeout: 60_000 });
      const backend = await page.locator('[data-testid=backend]').innerText();
      await page.getByRole('button', { name: 'Draw an example 7' }).click();
      await expect
        .poll(() => page.locator('[data-testid=predictions] li').count(), { timeout: 30_000 })
        .toBe(5);
      const text = await predictionText(page);
      await page.close();
      expect(problems).toEqual([]);
      return { backend, text };
    };
    const wasm = await probs('?backend=wasm');
    expect(wasm.backend).toBe('tfjs wasm');
    const auto = await probs('');
    // Same model, same drawing: the top-5 (rounded to 0.1 %) agrees across backends.
    expect(wasm.text).toBe(auto.text);
  });

  it('runs under its Content-Security-Policy, cross-origin isolated, with threaded wasm (no CSP violations)', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content.Security.Policy|Refused to/i.test(m.text()))
        problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page: ${e.message}`));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) =>
        console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`),
      );
    });
    const res = await page.goto(`${url}?backend=wasm`);
    const h = res!.headers();
    expect(h['content-security-policy']).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
    expect([h['cross-origin-opener-policy'], h['cross-origin-embedder-policy']]).toEqual([
      'same-origin',
      'require-corp',
    ]);
    expect(h['x-frame-options']).toBe('DENY');
    await page.waitForSelector('[data-testid=backend]', { timeout: 60_000 });
    expect(await page.locator('[data-testid=backend]').innerText()).toBe('tfjs wasm');
    expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
    // The engine worker (not the wasm pthreads it starts from blob: URLs, which are busy waiting).
    const engine = page.workers().find((w) => w.url().includes('/assets/worker'))!;
    const [isolated, threads, cores] = await engine.evaluate(() => [
      self.crossOriginIsolated,
      (self as any).convlensWasmThreads,
      navigator.hardwareConcurrency,
    ]);
    console.log(`explorer: crossOriginIsolated ${isolated}, wasm threads ${threads} of ${cores} cores`);
    expect(isolated).toBe(true);
    expect(threads).toBe(cores);
    if (cores > 1) expect(threads).toBeGreaterThan(1);

    // The app works under the policy: a prediction, then every explanation method.
    await page.getByRole('button', { name: 'Draw an example 7' }).click();
    await expect
      .poll(() => page.locator('[data-testid=predictions] li').count(), { timeout: 30_000 })
      .toBe(5);
    await page.getByRole('tab', { name: 'Explanations' }).click();
    const explain = page.locator('[data-testid=explain-view]');
    await explain.getByRole('button', { name: 'Explain' }).click();
    await expect.poll(() => explain.getByText('computing…').count(), { timeout: 240_000 }).toBe(0);
    const cards = await explain.locator('figure.card').all();
    expect(cards.length).toBeGreaterThanOrEqual(6);
    for (const card of cards) expect(await card.innerText()).not.toMatch(/error/i);
    expect(await nonBlank(page, '[data-testid=explain-view] figure.card[data-method=gradcam] canvas')).toBe(
      1,
    );
    expect(problems).toEqual([]);
    await page.close();
  }, 300_000);

  it('shows a specific error for a non-image upload and keeps working', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    await page.goto(url);
    await page.waitForSelector('[data-testid=backend]', { timeout: 60_000 });
    const notImage = join(tmp, 'notes.png');
    await writeFile(notImage, 'these are notes, not pixels\n');
    await page.locator('[data-testid=upload]').setInputFiles(notImage);
    await expect
      .poll(() => page.locator('[data-testid=upload-error]').innerText(), { timeout: 30_000 })
      .toMatch(/notes\.png failed: not an image/);
    await page.screenshot({ path: join(shots, 'laptop-upload-error.png') });
    await page.close();
  });

  it('shows which model file is missing: a model URL that 404s, a model.json without its shards', async () => {
    const page = await browser.newPage();
    await page.goto(`${url}?model=/files/model/nope/model.json`);
    await expect
      .poll(() => page.locator('[data-testid=fatal-error]').innerText(), { timeout: 60_000 })
      .toMatch(/Could not load the model: model \/files\/model\/nope\/model\.json: HTTP 404/);
    await page.screenshot({ path: join(shots, 'laptop-model-404.png') });

    const broken = join(tmp, 'broken');
    await writeTinyModel(broken, [28, 28, 1]);
    // Opened while whole (the server reads the model at start), then broken under the running server.
    const brokenSource = await openServeSource(join(broken, 'model.json'));
    await unlink(join(broken, 'weights.bin'));
    const brokenUrl = await serve(brokenSource, appDir);
    await page.goto(brokenUrl);
    await expect
      .poll(() => page.locator('[data-testid=fatal-error]').innerText(), { timeout: 60_000 })
      .toMatch(/1 of 1 weight shard\(s\) missing on the server \(weights\.bin\)/);
    await page.close();
  });
  it.skipIf(!existsSync(MOBILENET))(
    'MobileNet 0.25 folder: coffee.png is centre-cropped, predicted espresso by name, and Grad-CAM draws over it',
    async () => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(`page: ${e.message}`));
      await page.goto(await serve(await openServeSource(MOBILENET), appDir));
      await page.waitForSelector('[data-testid=backend]', { timeout: 60_000 });
      expect(await page.locator('[data-testid=model-summary]').innerText()).toMatch(
        /mobilenet_v1_0\.25_224 · input 224×224×3 · scale-1-1 \(pixels in \[-1, 1\]\) · 1000 classes/,
      );
      await page.locator('[data-testid=upload]').setInputFiles(COFFEE);
      await expect
        .poll(() => page.locator('[data-testid=predictions] li').count(), { timeout: 60_000 })
        .toBe(5);
      expect(await page.getByText('coffee.png: 600x400 → 224×224 (centre crop)').count()).toBe(1);
      const top = page.locator('[data-testid=predictions] li').first();
      expect(await top.getAttribute('data-class')).toBe('967');
      expect(await top.locator('.name').innerText()).toBe('espresso');
      await page.getByRole('tab', { name: 'Explanations' }).click();
      const explain = page.locator('[data-testid=explain-view]');
      await explain.getByRole('button', { name: 'Explain' }).click();
      const gradcam = explain.locator('figure.card[data-method=gradcam]');
      await gradcam.locator('canvas').waitFor({ timeout: 120_000 });
      expect(await gradcam.innerText()).toMatch(/layer conv_pw_13_relu/);
      expect(await nonBlank(page, '[data-testid=explain-view] figure.card[data-method=gradcam] canvas')).toBe(
        1,
      );
      await page.screenshot({ path: join(shots, 'mobilenet-gradcam.png'), fullPage: true });
      expect(problems).toEqual([]);
      await page.close();
    },
  );

  it('a graph model (converted SavedModel) loads and predicts as tfjs does in Node', async () => {
    await initBackend('cpu');
    const layers = smallLayersModel([32, 32, 3]);
    const dir = join(tmp, 'graph');
    await writeGraphModel(layers, dir);
    const source = await openServeSource(dir);
    expect(source.info.kind).toBe('tfjs');
    // What Node predicts for the same upload: the file fitted and preprocessed as the explorer does.
    const img = await readImage(COFFEE, { width: 32, height: 32, channels: 3, resize: 'fill' });
    const x = tf.tensor4d(applyPreprocess(source.info.preprocess, img.pixels, 3), [1, 32, 32, 3]);
    const y = layers.predict(x) as tf.Tensor;
    const probs = Array.from(await y.data());
    tf.dispose([x, y]);
    layers.dispose();
    const expected = probs
      .map((p, i) => ({ p, i }))
      .sort((a, b) => b.p - a.p)
      .map((t) => [String(t.i), `${(t.p * 100).toFixed(1)}%`]);

    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page: ${e.message}`));
    await page.goto(await serve(source, appDir));
    await page.waitForSelector('[data-testid=backend]', { timeout: 60_000 });
    await page.locator('[data-testid=upload]').setInputFiles(COFFEE);
    await expect
      .poll(() => page.locator('[data-testid=predictions] li').count(), { timeout: 30_000 })
      .toBe(3);
    const shown = await page.$$eval('[data-testid=predictions] li', (lis) =>
      lis.map((li) => [li.getAttribute('data-class'), li.querySelector('.pct')?.textContent]),
    );
    expect(shown).toEqual(expected);
    // The network view says why there are no layers instead of failing.
    expect(await page.locator('[data-testid=graph-note]').innerText()).toMatch(/no layers to show/);
    expect(problems).toEqual([]);
    await page.close();
  });
});
