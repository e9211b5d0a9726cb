/**
 * CI smoke test of `convlens lab --quick`: the real CLI on real MNIST, then the report opened in
 * headless chromium (playwright-core + Debian's chromium): every section and image rendered, no
 * console errors, the timeline slider works; report.json numbers are sane; a re-run reuses every stage.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli } from './cli-helpers.ts';

const DATA = process.env.CONVLENS_DATA_DIR ?? '';
const HAVE_MNIST = DATA !== '' && existsSync(join(DATA, 'mnist'));
const CHROMIUM = '/usr/bin/chromium';
const SECTIONS = ['data', 'train', 'test', 'part1', 'part2', 'part3', 'methods', 'featuremap', 'transfer'];

describe.skipIf(!HAVE_MNIST)('convlens lab --quick (needs MNIST in $CONVLENS_DATA_DIR)', () => {
  let out: string;
  let first: CliResult;
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'convlens-lab-'));
    first = await runCli(['lab', '--quick', '--json', '--out', out], { CONVLENS_DATA_DIR: DATA });
  }, 480_000);
  afterAll(async () => {
    // Keep the report (and its screenshots) when asked, e.g. to look at them after CI.
    if (!process.env.CONVLENS_KEEP_LAB) await rm(out, { recursive: true, force: true });
  });

  it('finishes and writes index.html, report.json and the figures', () => {
    expect(first.code, first.stderr.slice(-2000)).toBe(0);
    const s = JSON.parse(first.stdout);
    expect(s.interrupted).toBe(false);
    expect(s.stages.map((x: any) => x.id)).toEqual(SECTIONS);
    expect(s.stages.every((x: any) => !x.cached)).toBe(true);
    expect(existsSync(join(out, 'index.html'))).toBe(true);
  });

  it('report.json holds sane numbers', async () => {
    const r = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    const { data, train, test, part1, part2 } = r.stages;
    expect(data.numbers.split).toBe('from-test');
    expect(data.numbers.counts.train).toBe(1500);
    const perClassTrain: number[] = data.numbers.perClass.train;
    expect(perClassTrain.reduce((a, b) => a + b, 0)).toBe(1500);
    // Two epochs: the loss falls and the model is far better than chance (10%).
    const recs = train.numbers.records;
    expect(recs.map((x: any) => x.epoch)).toEqual([1, 2]);
    expect(recs[1].loss).toBeLessThan(recs[0].loss);
    expect(Object.keys(train.numbers.snapshots)).toEqual(['0', '1', '2']);
    // Class maximizations get more confident with training: mean target probability after epoch 2 > untrained.
    const meanP = (e: string) => {
      const p: number[] = train.numbers.snapshots[e].actmaxProbability;
      return p.reduce((a, b) => a + b, 0) / p.length;
    };
    expect(meanP('2')).toBeGreaterThan(meanP('0'));
    expect(test.numbers.count).toBe(500);
    expect(test.numbers.accuracy).toBeGreaterThan(0.6);
    expect(test.numbers.accuracy).toBeLessThanOrEqual(1);
    // The confusion matrix agrees with the accuracy and the count.
    const conf: number[][] = test.numbers.confusion;
    const total = conf.flat().reduce((a, b) => a + b, 0);
    const diag = conf.reduce((a, row, i) => a + row[i], 0);
    expect(total).toBe(500);
    expect(diag / total).toBeCloseTo(test.numbers.accuracy, 10);
    expect(test.numbers.misclassified.length).toBe(total - diag);
    expect(part1.numbers.statsImages).toBe(300);
    expect(part1.numbers.receptiveFields[0]).toMatchObject({ layer: 'conv1', rows: { size: 3, jump: 1 } });
    // The chosen tv weight obeys the stated rule.
    const { tvWeights, minProbability, chosenTvWeight, chosenByRule } = part2.numbers;
    const ok = tvWeights.filter((_: number, i: number) => minProbability[i] >= 0.9);
    if (chosenByRule) expect(chosenTvWeight).toBe(Math.max(...ok));
    else expect(ok).toEqual([]);
    // Part 3: the GAP model learned something, CAM = Grad-CAM on it, and every method was scored.
    const { part3 } = r.stages;
    expect(part3.numbers.gapModel.accuracy).toBeGreaterThan(0.15);
    expect(part3.numbers.gapModel.baseAccuracy).toBeCloseTo(test.numbers.accuracy, 1);
    for (const c of part3.numbers.camGradcamCorrelation) expect(c).toBeGreaterThan(0.999);
    const f = part3.numbers.faithfulness;
    const methods = Object.keys(part3.numbers.methods);
    expect(f.main.rows.map((x: any) => x.method).sort()).toEqual(methods.filter((m) => m !== 'cam').sort());
    expect(f.gap.rows.map((x: any) => x.method)).toEqual(['cam']);
    const row = (id: string) => f.main.rows.find((x: any) => x.method === id);
    for (const id of ['ig', 'occlusion', 'saliency']) {
      expect(row(id).error).toBeUndefined();
      expect(row(id).deletionAuc, id).toBeLessThan(f.main.random.deletionAuc);
      expect(row(id).insertionAuc, id).toBeGreaterThan(f.main.random.insertionAuc);
      expect(row(id).sanity.steps.length).toBeGreaterThan(0);
    }
    // DeconvNet top-9: each channel's 9 images, sorted by their strongest activation in it.
    for (const c of part3.numbers.deconvTop9.channels) {
      expect(c.indices).toHaveLength(9);
      expect([...c.activations].sort((a: number, b: number) => b - a)).toEqual(c.activations);
    }
    expect(part2.numbers.pairs.map((p: any) => p.pair)).toEqual([
      [1, 7],
      [4, 9],
      [0, 1],
      [7, 8],
    ]);
  });

  it.skipIf(!existsSync(CHROMIUM))(
    'renders every section and image in chromium, laptop and phone',
    async () => {
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox'],
      });
      try {
        for (const viewport of [
          { width: 1280, height: 900 },
          { width: 390, height: 844 },
        ]) {
          const page = await browser.newPage({ viewport });
          const errors: string[] = [];
          page.on('console', (m) => {
            if (m.type() === 'error') errors.push(m.text());
          });
          page.on('pageerror', (e) => errors.push(String(e)));
          page.on('requestfailed', (req) => errors.push(`failed: ${req.url()}`));
          await page.goto(`file://${join(out, 'index.html')}`, { waitUntil: 'load' });
          for (const id of SECTIONS) {
            const h2 = await page.locator(`section#${id} h2`).textContent();
            expect(h2?.length, id).toBeGreaterThan(3);
            expect(await page.locator(`nav a[href="#${id}"]`).count()).toBe(1);
          }
          const images = await page.evaluate(() =>
            Array.from(document.images).map((i) => ({
              src: i.getAttribute('src'),
              ok: i.complete && i.naturalWidth > 0,
            })),
          );
          expect(images.length).toBeGreaterThan(20);
          expect(images.filter((i) => !i.ok)).toEqual([]);
          expect(images.every((i) => !/^https?:/.test(i.src ?? ''))).toBe(true);
          // The timeline slider swaps the frame: epoch 0 (untrained), then epoch 2.
          const tl = page.locator('.timeline').first();
          const slider = tl.locator('input[type=range]');
          await slider.fill('0');
          expect(await tl.locator('output').textContent()).toBe('epoch 0');
          expect(await tl.locator('img').getAttribute('src')).toMatch(/e00-/);
          // Let the frame load before the next move: a src replaced mid-load is an aborted request.
          await tl
            .locator('img')
            .evaluate(
              (img: HTMLImageElement) =>
                img.complete || new Promise((done) => img.addEventListener('load', done, { once: true })),
            );
          expect(
            await tl.locator('img').evaluate((img: HTMLImageElement) => img.naturalWidth),
          ).toBeGreaterThan(0);
          await slider.fill('2');
          expect(await tl.locator('output').textContent()).toBe('epoch 2');
          expect(await tl.locator('img').getAttribute('src')).toMatch(/e02-/);
          expect(errors).toEqual([]);
          await page.screenshot({ path: join(out, `screenshot-${viewport.width}.png`), fullPage: true });
          expect(existsSync(join(out, `screenshot-${viewport.width}.png`))).toBe(true);
          await page.close();
        }
      } finally {
        await browser.close();
      }
    },
  );

  it('a re-run with the same settings reuses every stage', async () => {
    const again = await runCli(['lab', '--quick', '--json', '--out', out], { CONVLENS_DATA_DIR: DATA });
    expect(again.code, again.stderr.slice(-2000)).toBe(0);
    const s = JSON.parse(again.stdout);
    expect(s.stages.map((x: any) => x.cached)).toEqual(SECTIONS.map(() => true));
    expect(s.accuracy).toBe(JSON.parse(first.stdout).accuracy);
  });
});
