/** `convlens bench`: convlens vs the PyTorch peer, as ratios measured in the same run. */
import { cpus } from 'node:os';
import { join } from 'node:path';
import { type BackendName, initBackend, tf } from '@convlens/core/engine/backend';
import { nativeAddon, nativeKernelsRegistered } from '../engine/native.ts';
import { wasmThreads } from '../engine/wasm-threads.ts';
import { writeJsonAtomic } from '../io/atomic.ts';
import { type ConvlensBench, measureConvlens } from './measure.ts';
import { formatMobilenetBench, type MobilenetBench, measureMobilenets } from './mobilenet.ts';
import { formatOnnxBench, measureOnnx, type OnnxBench } from './onnx.ts';
import { findPeerScript, type PeerResult, runPeer } from './peer.ts';

export interface BenchOptions {
  backend: BackendName;
  reps: number;
  peer: boolean;
  outDir: string;
  json: boolean;
  /** Also time exported torchvision models against PyTorch (also CONVLENS_BENCH_ONNX=1). */
  onnx?: boolean;
  /** MobileNet v1 0.25 and 0.75 from ../shared/models vs peer_mobilenet.py (default true). */
  mobilenet?: boolean;
  /** Profile the MobileNet passes kernel by kernel (bench --profile). */
  profile?: boolean;
}

export interface BenchReport {
  date: string;
  machine: { cpus: number; cpu: string; node: string };
  tfjs: string;
  /** wasm threads convlens ran with. */
  threads: number;
  convlens: ConvlensBench;
  peer?: PeerResult;
  peerError?: string;
  ratios?: Record<string, number>;
  /** --onnx: torchvision models through ONNX vs PyTorch, batch 1. */
  onnx?: OnnxBench;
  /** MobileNet v1 0.25 and 0.75 (224×224) vs PyTorch running the same architecture. */
  mobilenet?: MobilenetBench;
  file?: string;
}

/**
 * Measures compared with the peer: rates (higher is better) and times (lower is better). Every
 * ratio reads the same way, > 1 when convlens is faster: convlens/peer for rates, peer/convlens
 * for times. A measure the peer does not report (Grad-CAM at batch 64) has no ratio.
 */
const MEASURES: { key: keyof ConvlensBench & string; kind: 'rate' | 'time' }[] = [
  { key: 'forward_img_s', kind: 'rate' },
  { key: 'train_img_s', kind: 'rate' },
  { key: 'input_grad_img_s', kind: 'rate' },
  { key: 'actmax_steps_s', kind: 'rate' },
  { key: 'gradcam_ms', kind: 'time' },
  { key: 'gradcam_b64_ms', kind: 'time' },
];

/** convlens vs peer for each measure both report. */
export function benchRatios(convlens: ConvlensBench, peer: PeerResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { key, kind } of MEASURES) {
    const ours = Number(convlens[key]);
    const theirs = Number(peer[key]);
    if (!(ours > 0 && theirs > 0)) continue;
    out[key] = Math.round((kind === 'rate' ? ours / theirs : theirs / ours) * 1000) / 1000;
  }
  return out;
}

export async function runBench(opts: BenchOptions, log: (line: string) => void): Promise<BenchReport> {
  await initBackend(opts.backend);
  log(`convlens (${opts.backend}): timing pw11 …`);
  const convlens = await measureConvlens({ reps: opts.reps, warmup: 2 });
  const report: BenchReport = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
    tfjs: tf.version.tfjs,
    threads: opts.backend === 'wasm' ? wasmThreads() : 1,
    convlens,
  };
  if (opts.peer) {
    const script = findPeerScript();
    if (!script)
      report.peerError = 'peer_torch.py not found (set CONVLENS_PEER or keep ../shared beside the repo)';
    else {
      log('PyTorch peer: timing the same model …');
      try {
        report.peer = await runPeer(script, opts.reps);
        report.ratios = benchRatios(convlens, report.peer);
      } catch (err: any) {
        report.peerError = err.message;
      }
    }
  }
  if (opts.mobilenet !== false) {
    // The peer runs on as many threads as convlens's native kernels (else its wasm threads).
    const threads = nativeKernelsRegistered() ? nativeAddon().threads() : report.threads;
    report.mobilenet = await measureMobilenets(
      { reps: opts.reps, peer: opts.peer, threads, profile: opts.profile },
      log,
    );
  }
  if (opts.onnx || process.env.CONVLENS_BENCH_ONNX === '1')
    report.onnx = await measureOnnx({ reps: opts.reps, threads: report.threads }, log);
  const file = join(opts.outDir, `${report.date.replace(/[:.]/g, '-')}.json`);
  await writeJsonAtomic(file, report);
  report.file = file;
  return report;
}

export function formatBench(r: BenchReport): string {
  const rows = [['measure', 'convlens', 'peer', 'ratio']];
  for (const { key } of MEASURES) {
    rows.push([
      key,
      String(r.convlens[key] ?? '-'),
      r.peer ? String(r.peer[key] ?? '-') : '-',
      r.ratios?.[key] !== undefined ? r.ratios[key].toFixed(3) : '-',
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) => row.map((c, i) => c.padEnd(widths[i])).join('  '));
  if (r.peerError) lines.push(`peer: ${r.peerError}`);
  else if (r.peer)
    lines.push(`peer: ${r.peer.peer} torch ${r.peer.torch}, ${r.peer.threads} threads, BLAS ${r.peer.blas}`);
  if (r.mobilenet) lines.push(...formatMobilenetBench(r.mobilenet), '');
  if (r.onnx) lines.push(...formatOnnxBench(r.onnx), '');
  lines.push('ratio > 1: convlens faster (rates: convlens/peer; *_ms times: peer/convlens)');
  lines.push(
    `backend: ${r.convlens.backend}, ${r.threads} thread(s); stats/forward ${r.convlens.stats_vs_forward}; results: ${r.file}`,
  );
  return lines.join('\n');
}
