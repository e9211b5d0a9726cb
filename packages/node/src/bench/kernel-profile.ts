/**
 * `convlens bench --profile`: where a MobileNet pass spends its time, kernel by kernel, and how close
 * each kind of kernel runs to what this machine can do. Two passes are profiled through convlens's
 * own path (scores(), the folded inference twin): the input gradient at batch 8 and Grad-CAM of
 * one image. Per kernel name: calls, milliseconds, share of the pass; for convolutions (forward
 * and input-gradient) the GFLOP/s reached in the pass and on the same shapes run alone in a tight
 * loop (oneDNN on its own, warm caches), against the best this machine's oneDNN reaches on a large
 * compute-bound conv; for the rest, GB/s moved against a large elementwise op's. The remainder of the
 * wall time is per-op overhead outside kernels (dispatch, bookkeeping, JavaScript).
 */
import { tf } from '@convlens/core/engine/backend';
import { scores } from '@convlens/core/methods/explain/common';
import { getExplainMethod } from '@convlens/core/methods/explain/registry';

const CONVS = new Set([
  'Conv2D',
  'FusedConv2D',
  'DepthwiseConv2dNative',
  'FusedDepthwiseConv2D',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropInput',
]);
/** Wrappers tf.profile lists around the kernels they run (their time is counted twice). */
const WRAPPERS = /scope|__op$/;

export interface KernelRow {
  kernel: string;
  calls: number;
  ms: number;
  /** Share of the summed kernel time. */
  share: number;
  gflop?: number;
  gflops?: number;
  /** The same shapes run alone, back to back. */
  alone_gflops?: number;
  gbytes?: number;
  gbs?: number;
}

export interface PassProfile {
  pass: string;
  wall_ms: number;
  kernel_ms: number;
  /** wall − kernels: dispatch, tensor bookkeeping, JavaScript. */
  overhead_ms: number;
  kernels: KernelRow[];
}

export interface KernelProfile {
  model: string;
  /** GFLOP/s of a large compute-bound 1×1 conv (oneDNN's best here) and GB/s of a large add. */
  machine: { conv_gflops: number; elementwise_gbs: number };
  passes: PassProfile[];
}

const size = (s: number[]) => s.reduce((p, d) => p * d, 1);

/** Multiply-adds × 2 of a conv-family kernel from its shapes. */
function convFlops(name: string, inputs: number[][], output: number[]): number {
  const filter = inputs[1];
  if (!filter || filter.length !== 4) return 0;
  const [kh, kw, ci] = filter;
  const depthwise = name.includes('Depthwise');
  // Forward: per output element KH·KW·(CI or 1) MACs. Backprop input: the same MACs as the forward it transposes.
  const outElems = name.includes('Backprop') ? size(inputs[0]) : size(output);
  return 2 * outElems * kh * kw * (depthwise ? 1 : ci);
}

/** Stride and padding of a conv from its input and output sizes ('same' when the output is ⌈in/stride⌉). */
function geometry(x: number[], out: number[]): { strides: [number, number]; pad: 'same' | 'valid' } {
  const s = Math.max(1, Math.round(x[1] / out[1]));
  return { strides: [s, s], pad: out[1] === Math.ceil(x[1] / s) ? 'same' : 'valid' };
}

/** Minimum ms of one conv-family kernel on these shapes, run alone. */
function aloneMs(name: string, inputs: number[][], output: number[], reps = 10): number | null {
  const backward = name.includes('Backprop');
  const xShape = backward ? output : inputs[0];
  const outShape = backward ? inputs[0] : output;
  const { strides, pad } = geometry(xShape, outShape);
  const ts = inputs.map((s) => tf.randomUniform(s, -1, 1));
  const attrs: Record<string, unknown> = { strides, pad, dataFormat: 'NHWC', dilations: [1, 1] };
  if (backward) attrs.inputShape = output;
  if (name.startsWith('Fused')) Object.assign(attrs, { activation: 'relu6', leakyreluAlpha: 0 });
  const names = name.startsWith('Fused')
    ? ['x', 'filter', 'bias']
    : backward
      ? ['dy', 'filter']
      : ['x', 'filter'];
  const named = Object.fromEntries(names.map((n, i) => [n, ts[i]]).filter(([, t]) => t));
  try {
    let best = Number.POSITIVE_INFINITY;
    for (let r = 0; r < reps + 2; r++) {
      const t0 = performance.now();
      const y = tf.engine().runKernel(name, named, attrs as any) as tf.Tensor;
      y.dataSync();
      const ms = performance.now() - t0;
      y.dispose();
      if (r >= 2) best = Math.min(best, ms);
    }
    return best;
  } catch {
    return null;
  } finally {
    tf.dispose(ts);
  }
}

async function profilePass(label: string, run: () => Promise<void>, reps: number): Promise<PassProfile> {
  for (let i = 0; i < 3; i++) await run();
  const walls: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await run();
    walls.push(performance.now() - t0);
  }
  walls.sort((a, b) => a - b);
  const info = await tf.profile(run);
  type Row = KernelRow & { shapes: Map<string, { n: number; inputs: number[][]; output: number[] }> };
  const rows = new Map<string, Row>();
  for (const k of info.kernels) {
    if (WRAPPERS.test(k.name)) continue;
    const row: Row = rows.get(k.name) ?? { kernel: k.name, calls: 0, ms: 0, share: 0, shapes: new Map() };
    const ms = Number((k as unknown as { kernelTimeMs: number }).kernelTimeMs) || 0;
    row.calls++;
    row.ms += ms;
    const inputs = (k.inputShapes ?? []).filter((s): s is number[] => Array.isArray(s));
    const output = (k.outputShapes?.[0] ?? []) as number[];
    if (CONVS.has(k.name)) {
      row.gflop = (row.gflop ?? 0) + convFlops(k.name, inputs, output) / 1e9;
      const key = JSON.stringify([inputs, output]);
      const s = row.shapes.get(key) ?? { n: 0, inputs, output };
      s.n++;
      row.shapes.set(key, s);
    } else {
      row.gbytes = (row.gbytes ?? 0) + (4 * (inputs.reduce((p, s) => p + size(s), 0) + size(output))) / 1e9;
    }
    rows.set(k.name, row);
  }
  const kernelMs = [...rows.values()].reduce((p, r) => p + r.ms, 0);
  const out: KernelRow[] = [];
  for (const r of [...rows.values()].sort((a, b) => b.ms - a.ms)) {
    const row: KernelRow = {
      kernel: r.kernel,
      calls: r.calls,
      ms: round(r.ms),
      share: round(r.ms / kernelMs, 3),
    };
    if (r.gflop !== undefined) {
      row.gflop = round(r.gflop, 3);
      row.gflops = round(r.gflop / (r.ms / 1000), 1);
      let alone = 0;
      let ok = true;
      for (const s of r.shapes.values()) {
        const ms = aloneMs(r.kernel, s.inputs, s.output);
        if (ms === null) ok = false;
        else alone += s.n * ms;
      }
      if (ok && alone > 0) row.alone_gflops = round(r.gflop / (alone / 1000), 1);
    }
    if (r.gbytes !== undefined && r.ms > 0) {
      row.gbytes = round(r.gbytes, 3);
      row.gbs = round(r.gbytes / (r.ms / 1000), 1);
    }
    out.push(row);
  }
  const wall = walls[walls.length >> 1];
  return {
    pass: label,
    wall_ms: round(wall),
    kernel_ms: round(kernelMs),
    overhead_ms: round(Math.max(0, wall - kernelMs)),
    kernels: out,
  };
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/**
 * The machine's references: oneDNN's best GFLOP/s on a compute-bound 1×1 conv, and the GB/s of an
 * add over arrays the size of MobileNet's largest batch-8 activations (2M floats, 8 MB each).
 */
function machineReference(): KernelProfile['machine'] {
  const convInputs = [[8, 14, 14, 512], [1, 1, 512, 512], [512]];
  const out = [8, 14, 14, 512];
  const ms = aloneMs('FusedConv2D', convInputs, out, 20) ?? Number.NaN;
  const conv_gflops = round(convFlops('FusedConv2D', convInputs, out) / 1e9 / (ms / 1000), 1);
  const n = 2 << 20;
  const a = tf.randomUniform([n]);
  const b = tf.randomUniform([n]);
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 22; r++) {
    const t0 = performance.now();
    const c = tf.add(a, b);
    c.dataSync();
    if (r >= 2) best = Math.min(best, performance.now() - t0);
    c.dispose();
  }
  tf.dispose([a, b]);
  return { conv_gflops, elementwise_gbs: round((3 * 4 * n) / 1e9 / (best / 1000), 1) };
}

export async function profileMobilenetKernels(
  model: tf.LayersModel,
  name: string,
  reps = 10,
): Promise<KernelProfile> {
  const x8 = tf.randomUniform([8, 224, 224, 3], -1, 1, 'float32', 9) as tf.Tensor4D;
  const x1 = tf.randomUniform([1, 224, 224, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
  const grad = tf.grad((inp: tf.Tensor) => tf.sum(tf.max(scores(model, inp), 1)));
  const gradcam = getExplainMethod('gradcam');
  try {
    const passes = [
      await profilePass(
        'input gradient, batch 8',
        async () => {
          const g = grad(x8);
          await g.data();
          g.dispose();
        },
        reps,
      ),
      await profilePass(
        'Grad-CAM, one image (conv_pw_13_relu)',
        async () => {
          await gradcam.explain({ model, input: x1, target: 1, layer: 'conv_pw_13_relu' });
        },
        Math.max(reps, 20),
      ),
    ];
    const machine = machineReference();
    for (const p of passes)
      for (const k of p.kernels) machine.conv_gflops = Math.max(machine.conv_gflops, k.alone_gflops ?? 0);
    return { model: name, machine, passes };
  } finally {
    tf.dispose([x8, x1]);
  }
}

export function formatKernelProfile(p: KernelProfile): string[] {
  const lines = [
    `kernel profile, ${p.model} (machine: oneDNN's best conv ${p.machine.conv_gflops} GFLOP/s; an 8 MB add ${p.machine.elementwise_gbs} GB/s)`,
  ];
  for (const pass of p.passes) {
    lines.push(
      `  ${pass.pass}: wall ${pass.wall_ms} ms = kernels ${pass.kernel_ms} ms + overhead ${pass.overhead_ms} ms`,
    );
    lines.push(
      `    ${'kernel'.padEnd(36)}${'calls'.padStart(6)}${'ms'.padStart(9)}${'share'.padStart(7)}  rate`,
    );
    for (const k of pass.kernels.filter((r) => r.share >= 0.01)) {
      const rate =
        k.gflops !== undefined
          ? `${k.gflops} GFLOP/s (alone ${k.alone_gflops ?? '-'}; ${Math.round((100 * k.gflops) / p.machine.conv_gflops)}% of best)`
          : k.gbs !== undefined
            ? `${k.gbs} GB/s (${Math.round((100 * k.gbs) / p.machine.elementwise_gbs)}% of the add)`
            : '';
      lines.push(
        `    ${k.kernel.padEnd(36)}${String(k.calls).padStart(6)}${k.ms.toFixed(2).padStart(9)}${`${Math.round(100 * k.share)}%`.padStart(7)}  ${rate}`,
      );
    }
  }
  return lines;
}
