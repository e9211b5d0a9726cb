/**
 * `convlens bench --onnx`: torchvision models exported to ONNX (packages/node/test/torch/
 * export_torchvision.py, seeded random weights) opened through --model x.onnx, timed against PyTorch
 * running the same modules (peer_torchvision.py): forward of one 224×224 image and Grad-CAM of its top
 * logit at the PyTorch module the export names (an alias such as `layer4`). convlens is timed first,
 * then the peer, never both at once, on as many threads as convlens used (on a busy 2-core machine
 * torch's 2 OpenMP threads took 279 ms for ResNet-18's forward against 69 ms on one). Needs Debian's python3-torch/torchvision; skipped with a notice
 * without them.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '@convlens/core/engine/backend';
import { getExplainMethod } from '@convlens/core/methods/explain/registry';
import { openModel } from '../open/open-model.ts';
import { PEER_PYTHON } from './peer.ts';

export const ONNX_BENCH_MODELS = ['resnet18', 'squeezenet1_1'];
const TORCH_DIR = fileURLToPath(new URL('../../test/torch/', import.meta.url));

export interface OnnxBenchRow {
  model: string;
  /** The Grad-CAM layer as PyTorch names it (a module alias in the converted model). */
  layer: string;
  convlens_forward_ms: number;
  convlens_gradcam_ms: number;
  torch_forward_ms?: number;
  torch_gradcam_ms?: number;
  /** peer/convlens: > 1 when convlens is faster. */
  forward_ratio?: number;
  gradcam_ratio?: number;
  /** torch's batch-1 forward as the export script timed it (its own thread count): a second reading. */
  torch_export_forward_ms?: number;
}

export interface OnnxBench {
  rows: OnnxBenchRow[];
  peer?: { torch: string; threads: number };
  /** Why the section is missing or has no peer numbers. */
  notice?: string;
}

function python(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((res, rej) => {
    execFile(PEER_PYTHON, args, { timeout: timeoutMs, maxBuffer: 1 << 22 }, (err, stdout, stderr) => {
      if (err) rej(new Error(stderr.trim().split('\n').at(-1) || err.message));
      else res(stdout);
    });
  });
}

/** Whether Debian's python3 imports torch and torchvision. */
export async function torchAvailable(): Promise<boolean> {
  try {
    await python(['-c', 'import torch, torchvision'], 60_000);
    return true;
  } catch {
    return false;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function timedMs(fn: () => Promise<void>, reps: number, warmup = 2): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return Math.round(median(t) * 1000) / 1000;
}

/** convlens's forward and Grad-CAM (batch 1) of one exported model. */
async function measureOne(path: string, name: string, layer: string, reps: number): Promise<OnnxBenchRow> {
  const m = await openModel(path, { log: () => {} });
  try {
    const [h, w, c] = m.inputShape;
    const x = tf.randomUniform([1, h, w, c], -2, 2, 'float32', 1) as tf.Tensor4D;
    const forward = await timedMs(async () => {
      const y = m.model.predict(x) as tf.Tensor;
      await y.data();
      y.dispose();
    }, reps);
    const gradcam = getExplainMethod('gradcam');
    const cam = await timedMs(async () => {
      const top = tf.tidy(() => tf.argMax(m.model.predict(x) as tf.Tensor, 1));
      const target = Array.from(await top.data());
      top.dispose();
      await gradcam.explain({ model: m.model, input: x, target, layer });
    }, reps);
    x.dispose();
    return { model: name, layer, convlens_forward_ms: forward, convlens_gradcam_ms: cam };
  } finally {
    m.dispose();
  }
}

const ratio = (peer?: number, ours?: number) =>
  peer && ours ? Math.round((peer / ours) * 1000) / 1000 : undefined;

export async function measureOnnx(
  opts: { reps: number; models?: string[]; threads?: number },
  log: (line: string) => void,
): Promise<OnnxBench> {
  if (!(await torchAvailable()))
    return {
      rows: [],
      notice: `skipped: ${PEER_PYTHON} cannot import torch and torchvision (apt-get install python3-torch python3-torchvision)`,
    };
  const models = opts.models ?? ONNX_BENCH_MODELS;
  const dir = await mkdtemp(join(tmpdir(), 'convlens-bench-onnx-'));
  try {
    log(`ONNX: exporting ${models.join(', ')} with torch …`);
    await python(
      [join(TORCH_DIR, 'export_torchvision.py'), '--out', dir, '--models', models.join(','), '--batch', '1'],
      1_200_000,
    );
    const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as {
      models: { name: string; onnx: string; layer: string; torch_ms?: number }[];
    };
    const rows: OnnxBenchRow[] = [];
    for (const e of meta.models) {
      log(`ONNX: timing convlens on ${e.name} …`);
      const row = await measureOne(join(dir, e.onnx), e.name, e.layer, opts.reps);
      if (e.torch_ms) row.torch_export_forward_ms = Math.round(e.torch_ms * 1000) / 1000;
      rows.push(row);
    }
    log('ONNX: timing PyTorch on the same models …');
    const out: OnnxBench = { rows };
    try {
      const stdout = await python(
        [
          join(TORCH_DIR, 'peer_torchvision.py'),
          '--models',
          models.join(','),
          '--reps',
          String(opts.reps),
          '--threads',
          String(opts.threads ?? 2),
        ],
        1_200_000,
      );
      const peer = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as {
        torch: string;
        threads: number;
        models: Record<string, { forward_ms: number; gradcam_ms: number }>;
      };
      out.peer = { torch: peer.torch, threads: peer.threads };
      for (const r of rows) {
        const p = peer.models[r.model];
        if (!p) continue;
        r.torch_forward_ms = p.forward_ms;
        r.torch_gradcam_ms = p.gradcam_ms;
        r.forward_ratio = ratio(p.forward_ms, r.convlens_forward_ms);
        r.gradcam_ratio = ratio(p.gradcam_ms, r.convlens_gradcam_ms);
      }
    } catch (err: any) {
      out.notice = `peer failed: ${err.message}`;
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatOnnxBench(b: OnnxBench): string[] {
  const lines = ['', 'ONNX (torchvision, batch 1, ms; ratio = torch/convlens, > 1: convlens faster)'];
  if (b.rows.length > 0) {
    const rows = [['model', 'measure', 'convlens', 'torch', 'ratio']];
    const s = (v?: number) => (v === undefined ? '-' : String(v));
    for (const r of b.rows) {
      rows.push([r.model, 'forward_ms', s(r.convlens_forward_ms), s(r.torch_forward_ms), s(r.forward_ratio)]);
      rows.push([
        r.model,
        `gradcam_ms (${r.layer})`,
        s(r.convlens_gradcam_ms),
        s(r.torch_gradcam_ms),
        s(r.gradcam_ratio),
      ]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    lines.push(...rows.map((row) => row.map((c, i) => c.padEnd(widths[i])).join('  ')));
  }
  if (b.peer) lines.push(`ONNX peer: torch ${b.peer.torch}, ${b.peer.threads} threads`);
  const exp = b.rows.filter((r) => r.torch_export_forward_ms !== undefined);
  if (exp.length > 0)
    lines.push(
      `torch forward as timed by the export (its default threads): ${exp.map((r) => `${r.model} ${r.torch_export_forward_ms} ms`).join(', ')}`,
    );
  if (b.notice) lines.push(`ONNX: ${b.notice}`);
  return lines;
}
