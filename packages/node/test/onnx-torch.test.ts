/**
 * convlens against PyTorch itself: torchvision models (random weights, fixed seed) exported to ONNX by
 * test/torch/export_torchvision.py with Debian's python3-torch, opened through openModel, and compared
 * with torch's own probabilities, saliency and Grad-CAM. Skipped, with a notice, where torch is absent.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@convlens/core/engine/backend';
import { predictBatches } from '@convlens/core/eval/predict';
import { parseNpy } from '@convlens/core/methods/actmax/npy';
import { getExplainMethod } from '@convlens/core/methods/explain/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openModel } from '../src/open/open-model.ts';
import { readModelInput } from '../src/tasks/model-input.ts';

const PYTHON = '/usr/bin/python3'; // Debian's: a pyenv python on PATH has no torch
const SCRIPT = join(import.meta.dirname, 'torch', 'export_torchvision.py');
// Two of the script's four models keep this file near a minute: a residual net with a Gemm head, and
// SqueezeNet (Concat, ceil-mode pooling, a conv head). All four: CONVLENS_TORCH_MODELS=resnet18,
// mobilenet_v2,efficientnet_b0,squeezenet1_1.
const MODELS = process.env.CONVLENS_TORCH_MODELS?.split(',') ?? ['resnet18', 'squeezenet1_1'];
const hasTorch = spawnSync(PYTHON, ['-c', 'import torchvision'], { stdio: 'ignore' }).status === 0;
if (!hasTorch)
  console.warn(
    'notice: onnx-torch tests skipped: /usr/bin/python3 has no torch/torchvision (apt install python3-torchvision)',
  );

interface Meta {
  models: { name: string; onnx: string; layer: string; targets: number[] }[];
}

/** max |a − b| / max |b|: errors relative to the map's scale. */
function relErr(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return d / s;
}

describe.skipIf(!hasTorch)('ONNX models exported by PyTorch', () => {
  let dir = '';
  let meta: Meta;
  const npy = (model: string, name: string) => parseNpy(readFileSync(join(dir, model, `${name}.npy`)), name);

  beforeAll(async () => {
    await initBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'convlens-torch-'));
    const r = spawnSync(PYTHON, [SCRIPT, '--out', dir, '--models', MODELS.join(','), '--batch', '1'], {
      encoding: 'utf8',
    });
    if (r.status !== 0)
      throw new Error(`export_torchvision.py failed: ${r.stderr.trim().split('\n').at(-1)}`);
    meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
  }, 300_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const name of MODELS) {
    it(`${name}: probabilities within 1e-4, saliency and Grad-CAM within 1e-3 of PyTorch`, async () => {
      const info = meta.models.find((m) => m.name === name)!;
      const logs: string[] = [];
      const m = await openModel(join(dir, info.onnx), { log: (s) => logs.push(s) });
      const before = tf.memory().numTensors;
      try {
        expect(m.kind).toBe('onnx');
        expect(m.inputShape).toEqual([224, 224, 3]);
        expect(m.preprocess.preset).toBe('torch');
        expect(logs.join('\n')).toMatch(/assuming torch/);
        expect(m.scores.kind).toBe('logits');
        const inputs = await Promise.all(
          info.targets.map((_, i) => readModelInput(m, { image: join(dir, name, `image_${i}.png`) })),
        );
        const n = inputs.length;
        const x = new Float32Array(n * 224 * 224 * 3);
        for (const [i, inp] of inputs.entries()) x.set(inp.x, i * inp.x.length);

        let probs: Float32Array = new Float32Array(0);
        for await (const p of predictBatches(m.model, [{ x, size: n }])) probs = p.probs;
        const want = npy(name, 'probs').data;
        let maxProb = 0;
        for (let i = 0; i < want.length; i++) maxProb = Math.max(maxProb, Math.abs(probs[i] - want[i]));
        expect(maxProb).toBeLessThan(1e-4);

        const input = tf.tensor4d(x, [n, 224, 224, 3]);
        try {
          const sal = await getExplainMethod('saliency').explain({
            model: m.model,
            input,
            target: info.targets,
          });
          const cam = await getExplainMethod('gradcam').explain({
            model: m.model,
            input,
            target: info.targets,
            layer: info.layer, // the PyTorch module name, through the converter's aliases
          });
          const flat = (maps: Float32Array[]) => Float32Array.from(maps.flatMap((a) => [...a]));
          const salErr = relErr(flat(sal.maps), npy(name, 'saliency').data);
          const camErr = relErr(flat(cam.maps), npy(name, 'gradcam').data);
          console.log(
            `${name}: max |Δp| ${maxProb.toExponential(2)}, saliency ${salErr.toExponential(2)}, Grad-CAM ${camErr.toExponential(2)} (relative), layer ${info.layer} = ${cam.layer}`,
          );
          expect(salErr).toBeLessThan(1e-3);
          expect(camErr).toBeLessThan(1e-3);
        } finally {
          input.dispose();
        }
        expect(tf.memory().numTensors).toBe(before);
      } finally {
        m.dispose();
      }
    }, 180_000);
  }
});
