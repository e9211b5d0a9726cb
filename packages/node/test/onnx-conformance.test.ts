/**
 * ONNX's own backend tests (Debian's libonnx-testdata) through the converter: every case whose
 * operators convlens converts must match ONNX's expected outputs within 1e-4 (relative above 1).
 * Cases are skipped, with the reason recorded, when the file uses an operator convlens lacks, a
 * feature the converter refuses with a clear message (1-D/3-D convs, training mode…), non-float
 * data it cannot represent (strings, float16 rounding), or a scalar input (a layers model needs a
 * batch axis). Per-operator counts go to $CONVLENS_ONNX_CONFORMANCE (default: a temp file).
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@convlens/core/engine/backend';
import { findUnsupported, runOnnxGraph } from '@convlens/core/onnx/convert/index';
import type { OnnxGraph, OnnxTensor } from '@convlens/core/onnx/graph';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { listOnnxCases, loadOnnxCase, type OnnxCase } from '../src/onnx/conformance-cases.ts';

const cases = listOnnxCases();
const TOL = 1e-4;

type Outcome = {
  status: 'pass' | 'fail' | 'skip' | 'known';
  reason?: string;
  err?: number;
  ops: string[];
  constInputs?: boolean;
};

function maxError(got: OnnxTensor[], want: OnnxTensor[]): number {
  let err = 0;
  want.forEach((w, i) => {
    const g = got[i];
    if (!g || g.dims.join() !== w.dims.join()) {
      err = Number.POSITIVE_INFINITY;
      return;
    }
    for (let k = 0; k < w.data.length; k++) {
      const a = g.data[k];
      const b = w.data[k];
      if (Number.isNaN(a) && Number.isNaN(b)) continue;
      if (a === b) continue;
      const d = Math.abs(a - b) / Math.max(1, Math.abs(b));
      err = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(err, d);
    }
  });
  return err;
}

/** Graph inputs after the first as initializers: the test's weights, shapes and scales as a real file holds them. */
function bakeInputs(graph: OnnxGraph, inputs: OnnxTensor[]): OnnxGraph {
  const initializers = new Map(graph.initializers);
  graph.inputs.slice(1).forEach((info, i) => {
    initializers.set(info.name, { ...inputs[i + 1], name: info.name });
  });
  return { ...graph, inputs: graph.inputs.slice(0, 1), initializers };
}

/** Cases that run but fail today, each with what is known (reported, not hidden: status 'known'). */
const KNOWN: [RegExp, string][] = [
  [
    /^node\/test_layer_normalization_.*_expanded$/,
    'LayerNormalization expanded into a three-output function graph: a tensor is disposed before a Keras Reshape reads it inside tfjs-layers execute() (open; the LayerNormalization op itself passes)',
  ],
];

/** Failures the converter refuses on purpose: reasons, not bugs. */
const REFUSED = /not supported|only 2-D|must be a constant|symbolic size|inference only/;

async function runCase(c: OnnxCase): Promise<Outcome> {
  const r = await runOne(c);
  const known = KNOWN.find(([re]) => re.test(`${c.suite}/${c.name}`));
  return known && r.status === 'fail'
    ? { ...r, status: 'known', reason: `${known[1]}: ${r.reason ?? r.err}` }
    : r;
}

async function runOne(c: OnnxCase): Promise<Outcome> {
  let loaded: ReturnType<typeof loadOnnxCase>;
  try {
    loaded = loadOnnxCase(c);
  } catch (e) {
    return { status: 'skip', reason: `file: ${(e as Error).message}`, ops: [] };
  }
  const { graph, inputs, outputs } = loaded;
  const ops = [...new Set(graph.nodes.map((n) => n.opType))];
  const un = findUnsupported(graph);
  if (un.length)
    return {
      status: 'skip',
      reason: `operator not supported: ${[...new Set(un.map((u) => u.op))].join(', ')}`,
      ops,
    };
  if (graph.inputs.length === 0)
    return { status: 'skip', reason: 'no graph input (every output is a constant)', ops };
  if (inputs[0]?.dims.length === 0)
    return { status: 'skip', reason: 'scalar input (a layers model needs a batch axis)', ops };
  if ([...inputs, ...outputs].some((t) => t.type === 'string'))
    return { status: 'skip', reason: 'string tensors', ops };
  if (outputs.some((t) => t.type === 'float16') || /BFLOAT16|FLOAT16/.test(c.name))
    return { status: 'skip', reason: 'float16/bfloat16 rounding (convlens computes in float32)', ops };
  const attempt = async (g: OnnxGraph, xs: OnnxTensor[]) => maxError(await runOnnxGraph(g, xs), outputs);
  // Scalar parameters (Clip's min and max) cannot be model inputs: the file holds them as constants.
  if (inputs.slice(1).some((t) => t.dims.length === 0)) {
    try {
      const err = await attempt(bakeInputs(graph, inputs), inputs.slice(0, 1));
      return { status: err <= TOL ? 'pass' : 'fail', err, ops, constInputs: true };
    } catch (e) {
      const m = (e as Error).message;
      return REFUSED.test(m) ? { status: 'skip', reason: m, ops } : { status: 'fail', reason: m, ops };
    }
  }
  try {
    const err = await attempt(graph, inputs);
    return { status: err <= TOL ? 'pass' : 'fail', err, ops };
  } catch (e) {
    const msg = (e as Error).message;
    if (/must be a constant/.test(msg) && inputs.length > 1) {
      try {
        const err = await attempt(bakeInputs(graph, inputs), inputs.slice(0, 1));
        return { status: err <= TOL ? 'pass' : 'fail', err, ops, constInputs: true };
      } catch (e2) {
        const m2 = (e2 as Error).message;
        return REFUSED.test(m2) ? { status: 'skip', reason: m2, ops } : { status: 'fail', reason: m2, ops };
      }
    }
    return REFUSED.test(msg) ? { status: 'skip', reason: msg, ops } : { status: 'fail', reason: msg, ops };
  }
}

describe.skipIf(cases.length === 0)('ONNX backend tests (libonnx-testdata)', () => {
  const results = new Map<string, Outcome>();
  beforeAll(async () => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    for (const c of cases) results.set(`${c.suite}/${c.name}`, await runCase(c));
    const perOp: Record<string, { pass: number; fail: number; skip: number; known: number }> = {};
    for (const r of results.values())
      for (const op of r.ops) {
        perOp[op] ??= { pass: 0, fail: 0, skip: 0, known: 0 };
        perOp[op][r.status]++;
      }
    const out = process.env.CONVLENS_ONNX_CONFORMANCE ?? join(tmpdir(), 'convlens-onnx-conformance.json');
    writeFileSync(
      out,
      `${JSON.stringify({ tolerance: TOL, perOp, cases: Object.fromEntries(results) }, null, 1)}\n`,
    );
    const n = (s: string) => [...results.values()].filter((r) => r.status === s).length;
    console.log(
      `ONNX conformance: ${n('pass')} pass, ${n('fail')} fail, ${n('known')} known failures, ${n('skip')} skipped of ${results.size} → ${out}`,
    );
    expect(tf.memory().numTensors).toBe(before);
  }, 600_000);

  it('every case convlens converts matches ONNX within 1e-4', () => {
    const failed = [...results]
      .filter(([, r]) => r.status === 'fail')
      .map(([k, r]) => `${k}: ${r.reason ?? `error ${r.err}`}`);
    expect(failed).toEqual([]);
  });

  it('runs the core image operators', () => {
    const passed = (prefix: string) =>
      [...results].filter(([k, r]) => k.includes(prefix) && r.status === 'pass').length;
    // Counts that would drop if a converter broke: convs, pools, batch norm, Gemm, resize, pads.
    expect(passed('pytorch-converted/test_Conv2d')).toBeGreaterThanOrEqual(10);
    expect(passed('node/test_conv')).toBeGreaterThanOrEqual(3);
    expect(passed('node/test_maxpool_2d')).toBeGreaterThanOrEqual(8);
    expect(passed('node/test_averagepool_2d')).toBeGreaterThanOrEqual(8);
    expect(passed('node/test_batchnorm')).toBeGreaterThanOrEqual(2);
    expect(passed('node/test_gemm')).toBeGreaterThanOrEqual(8);
    expect(passed('node/test_resize')).toBeGreaterThanOrEqual(8);
  });
});
