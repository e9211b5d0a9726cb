/**
 * `convlens bench` on ImageNet-size models: Keras MobileNet v1 0.25 and 0.75 (224×224, from
 * ../shared/models) through convlens's own methods, against PyTorch running the same architecture
 * (../shared/bench/peer_mobilenet.py). Per model, convlens is timed first, then the peer, never both
 * at once, on as many threads as convlens's native kernels use. Measures as the peer takes them:
 * forward (best of batch 1, 8, 32), input gradient of the top logit (batch 8, img/s), Grad-CAM of
 * one image at conv_pw_13_relu and integrated gradients of one image (32 steps), in ms.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { tf } from '@convlens/core/engine/backend';
import { scores } from '@convlens/core/methods/explain/common';
import { getExplainMethod } from '@convlens/core/methods/explain/registry';
import { loadModel } from '../io/model-io.ts';
import { formatKernelProfile, type KernelProfile, profileMobilenetKernels } from './kernel-profile.ts';
import { topClass } from './measure.ts';
import { findPeerScript, PEER_PYTHON } from './peer.ts';

export const MOBILENET_ALPHAS = ['0.25', '0.75'] as const;
export const MOBILENET_CAM_LAYER = 'conv_pw_13_relu';
const BATCHES = [1, 8, 32];
const IG_STEPS = 32;

export interface MobilenetMeasures {
  forward_img_s: number;
  forward_img_s_by_batch: Record<string, number>;
  input_grad_img_s: number;
  gradcam_ms: number;
  ig_ms: number;
}

export interface MobilenetBenchRow {
  model: string;
  convlens: MobilenetMeasures;
  peer?: MobilenetMeasures & { torch: string; threads: number };
  /** > 1 when convlens is faster: convlens/peer for rates, peer/convlens for times. */
  ratios?: Record<string, number>;
  peerError?: string;
}

export interface MobilenetBench {
  rows: MobilenetBenchRow[];
  /** Why a model or the peer is missing. */
  notice?: string;
  /** Per-kernel profiles (bench --profile). */
  profiles?: KernelProfile[];
}

const MEASURES: { key: keyof MobilenetMeasures & string; kind: 'rate' | 'time' }[] = [
  { key: 'forward_img_s', kind: 'rate' },
  { key: 'input_grad_img_s', kind: 'rate' },
  { key: 'gradcam_ms', kind: 'time' },
  { key: 'ig_ms', kind: 'time' },
];

/** The shared models folder: $CONVLENS_MODELS_DIR, else ../shared/models beside the repo or cwd. */
export function findMobilenet(alpha: string, cwd = process.cwd()): string | undefined {
  const name = `mobilenet_v1_${alpha}_224`;
  const roots = [
    process.env.CONVLENS_MODELS_DIR,
    resolve(import.meta.dirname, '../../../../../shared/models'),
    resolve(cwd, '../shared/models'),
    resolve(cwd, 'shared/models'),
  ].filter((p): p is string => !!p);
  return roots.map((r) => join(r, name)).find((d) => existsSync(join(d, 'model.json')));
}

function findPeer(): string | undefined {
  const torch = findPeerScript();
  const candidates = [
    torch && join(dirname(torch), 'peer_mobilenet.py'),
    resolve(import.meta.dirname, '../../../../../shared/bench/peer_mobilenet.py'),
  ].filter((p): p is string => !!p);
  return candidates.find((p) => existsSync(p));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Median seconds of `reps` timed runs after `warmup` untimed ones. */
async function timed(fn: () => Promise<void>, reps: number, warmup = 2): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    t.push((performance.now() - t0) / 1000);
  }
  return median(t);
}

const images = (n: number, seed: number) =>
  tf.randomUniform([n, 224, 224, 3], -1, 1, 'float32', seed) as tf.Tensor4D;
const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;

/** convlens on one MobileNet: the four measures, through the product's own methods. */
export async function measureMobilenetConvlens(
  model: tf.LayersModel,
  reps: number,
): Promise<MobilenetMeasures> {
  const byBatch: Record<string, number> = {};
  for (const b of BATCHES) {
    const x = images(b, b);
    const t = await timed(async () => {
      const y = model.predict(x) as tf.Tensor;
      await y.data();
      y.dispose();
    }, reps);
    byBatch[b] = r1(b / t);
    x.dispose();
  }
  // d(top logit)/d(input) at batch 8, weights frozen, as the peer's input_grad, through the scores
  // every gradient method uses (the folded inference twin).
  const x8 = images(8, 9);
  const grad = tf.grad((inp: tf.Tensor) => tf.sum(tf.max(scores(model, inp), 1)));
  const tGrad = await timed(async () => {
    const g = grad(x8);
    await g.data();
    g.dispose();
  }, reps);
  x8.dispose();
  const x1 = images(1, 1);
  const gradcam = getExplainMethod('gradcam');
  // The peer takes its target from the argmax of the same forward pass, so the top class is found
  // once, untimed, rather than by a second forward inside the timed call. One image takes
  // milliseconds: at least 50 repetitions after 50 warm-ups (V8's tiers, heap sizing and oneDNN's
  // primitive cache settle over the first tens of calls; the peer's 2 suffice for PyTorch's C++).
  const camTarget = await topClass(model, x1);
  const tCam = await timed(
    async () => {
      await gradcam.explain({ model, input: x1, target: camTarget, layer: MOBILENET_CAM_LAYER });
    },
    Math.max(reps, 50),
    50,
  );
  const ig = getExplainMethod('ig');
  const tIg = await timed(async () => {
    await ig.explain({ model, input: x1, target: await topClass(model, x1), options: { steps: IG_STEPS } });
  }, reps);
  x1.dispose();
  return {
    forward_img_s: Math.max(...Object.values(byBatch)),
    forward_img_s_by_batch: byBatch,
    input_grad_img_s: r1(8 / tGrad),
    gradcam_ms: r2(1000 * tCam),
    ig_ms: r1(1000 * tIg),
  };
}

function runMobilenetPeer(
  script: string,
  alpha: string,
  reps: number,
  threads: number,
): Promise<MobilenetMeasures & { torch: string; threads: number }> {
  return new Promise((res, rej) => {
    execFile(
      PEER_PYTHON,
      [script, '--alpha', alpha, '--json', '--reps', String(reps), '--threads', String(threads)],
      { timeout: 1_200_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          const why = /No module named 'torch'/.test(stderr)
            ? `${PEER_PYTHON} cannot import torch (apt-get install python3-torch libopenblas0-openmp)`
            : (stderr.trim().split('\n').at(-1) ?? err.message);
          rej(new Error(why));
          return;
        }
        try {
          res(JSON.parse(stdout));
        } catch {
          rej(new Error(`printed no JSON: ${stdout.slice(0, 200)}`));
        }
      },
    );
  });
}

export function mobilenetRatios(ours: MobilenetMeasures, peer: MobilenetMeasures): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { key, kind } of MEASURES) {
    const a = Number(ours[key]);
    const b = Number(peer[key]);
    if (a > 0 && b > 0) out[key] = Math.round((kind === 'rate' ? a / b : b / a) * 1000) / 1000;
  }
  return out;
}

export async function measureMobilenets(
  opts: { reps: number; peer: boolean; threads: number; profile?: boolean },
  log: (line: string) => void,
): Promise<MobilenetBench> {
  const rows: MobilenetBenchRow[] = [];
  const notices: string[] = [];
  const profiles: KernelProfile[] = [];
  const script = opts.peer ? findPeer() : undefined;
  if (opts.peer && !script) notices.push('peer_mobilenet.py not found (keep ../shared beside the repo)');
  for (const alpha of MOBILENET_ALPHAS) {
    const dir = findMobilenet(alpha);
    if (!dir) {
      notices.push(`mobilenet_v1_${alpha}_224 not found (set CONVLENS_MODELS_DIR or keep ../shared/models)`);
      continue;
    }
    log(`convlens: timing MobileNet v1 ${alpha} …`);
    const { model } = await loadModel(dir);
    const row: MobilenetBenchRow = {
      model: `mobilenet_v1_${alpha}_224`,
      convlens: { ...(await measureMobilenetConvlens(model, opts.reps)) },
    };
    if (opts.profile) {
      log(`convlens: profiling MobileNet v1 ${alpha} kernel by kernel …`);
      profiles.push(await profileMobilenetKernels(model, row.model));
    }
    model.dispose();
    if (script) {
      log(`PyTorch peer: timing MobileNet v1 ${alpha} …`);
      try {
        row.peer = await runMobilenetPeer(script, alpha, opts.reps, opts.threads);
        row.ratios = mobilenetRatios(row.convlens, row.peer);
      } catch (err: any) {
        row.peerError = `peer benchmark unavailable: ${err.message}`;
      }
    }
    rows.push(row);
  }
  return {
    rows,
    ...(notices.length ? { notice: notices.join('; ') } : {}),
    ...(profiles.length ? { profiles } : {}),
  };
}

export function formatMobilenetBench(b: MobilenetBench): string[] {
  const lines = ['', 'MobileNet v1 224×224 (ratio > 1: convlens faster)'];
  const rows = [['model', 'measure', 'convlens', 'peer', 'ratio']];
  const s = (v?: number) => (v === undefined ? '-' : String(v));
  for (const r of b.rows) {
    for (const { key } of MEASURES) {
      const label =
        key === 'gradcam_ms'
          ? `gradcam_ms (${MOBILENET_CAM_LAYER})`
          : key === 'ig_ms'
            ? `ig_ms (${IG_STEPS} steps)`
            : key;
      rows.push([
        r.model,
        label,
        s(r.convlens[key] as number),
        s(r.peer?.[key] as number),
        s(r.ratios?.[key]),
      ]);
    }
  }
  if (b.rows.length > 0) {
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    lines.push(...rows.map((row) => row.map((c, i) => c.padEnd(widths[i])).join('  ')));
  }
  const peer = b.rows.find((r) => r.peer)?.peer;
  if (peer) lines.push(`MobileNet peer: torch ${peer.torch}, ${peer.threads} threads`);
  for (const r of b.rows) if (r.peerError) lines.push(`${r.model}: ${r.peerError}`);
  if (b.notice) lines.push(`MobileNet: ${b.notice}`);
  for (const p of b.profiles ?? []) lines.push('', ...formatKernelProfile(p));
  return lines;
}
