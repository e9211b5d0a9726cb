// The explorer's quick budgets are options core really reads: on a 72×72 input (above the 64 px where
// budgets start) each budgeted method reports, in its meta, the count its caption names, and the
// full budget reports its own.
import { initBackend } from '@convlens/core/engine/backend';
import { getExplainMethod } from '@convlens/core/methods/explain/registry';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { methodBudget } from '../src/lib/budgets.ts';

const S = 72;
let model: tf.LayersModel;
let x: tf.Tensor4D;

beforeAll(async () => {
  await initBackend('cpu');
  const input = tf.input({ shape: [S, S, 3] });
  let h = tf.layers
    .conv2d({
      name: 'c1',
      filters: 4,
      kernelSize: 3,
      strides: 2,
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
    })
    .apply(input) as tf.SymbolicTensor;
  h = tf.layers
    .conv2d({
      name: 'c2',
      filters: 30,
      kernelSize: 3,
      strides: 2,
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
    })
    .apply(h) as tf.SymbolicTensor;
  h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ name: 'logits', units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) })
    .apply(h) as tf.SymbolicTensor;
  model = tf.model({
    inputs: input,
    outputs: tf.layers.activation({ activation: 'softmax' }).apply(out) as tf.SymbolicTensor,
  });
  // Flat-coloured 9×9 blocks (pseudo-random colours in [-1, 1]): superpixels have edges to follow.
  const px = new Float32Array(S * S * 3);
  for (let y = 0; y < S; y++)
    for (let xx = 0; xx < S; xx++)
      for (let c = 0; c < 3; c++) {
        const b = Math.floor(y / 9) * 8 + Math.floor(xx / 9);
        px[(y * S + xx) * 3 + c] = Math.sin(b * 12.9898 + c * 78.233) * 0.9;
      }
  x = tf.tensor4d(px, [1, S, S, 3]);
});

/** The meta value that carries each method's budget. */
const KEY: Record<string, string> = {
  smoothgrad: 'samples',
  'smoothgrad-sq': 'samples',
  vargrad: 'samples',
  'gradient-shap': 'samples',
  'expected-gradients': 'samples',
  ig: 'steps',
  'layer-conductance': 'steps',
  'deeplift-shap': 'references',
  occlusion: 'stride',
  'shapley-sampling': 'permutations',
  rise: 'masks',
  'kernel-shap': 'evaluations',
  lime: 'samples',
  'feature-ablation': 'segments',
  scorecam: 'channelsScored',
};

describe('explorer budgets', () => {
  it('apply only above 64 px a side', () => {
    expect(methodBudget('ig', 28, 28)).toBeNull();
    expect(methodBudget('gradcam', 224, 224)).toBeNull();
    expect(methodBudget('ig', 224, 224)?.explorer.label).toBe('12 path steps');
  });

  for (const [id, key] of Object.entries(KEY)) {
    it(`${id}: the caption's number is what core used`, async () => {
      const b = methodBudget(id, S, S)!;
      const m = getExplainMethod(id);
      const meta = async (options: Record<string, unknown>) => {
        const e = await m.explain({
          model,
          input: x,
          target: 0,
          layer: m.needsLayer ? 'c2' : undefined,
          options,
        });
        expect(e.maps[0].every(Number.isFinite)).toBe(true);
        const v = e.meta[key];
        return (Array.isArray(v) ? v[0] : v) as number;
      };
      // The count a caption names: the stride for occlusion ("10px windows, stride 10"), else its first number.
      const num = (label: string) => Number((id === 'occlusion' ? /(\d+)$/ : /(\d+)/).exec(label)![1]);
      // KernelSHAP also evaluates the all-on and all-hidden inputs.
      const expected = (label: string) => num(label) + (id === 'kernel-shap' ? 2 : 0);
      const [quick, full] = [await meta(b.explorer.options), await meta(b.full.options)];
      if (id === 'feature-ablation') {
        // SLIC's count only approaches nSegments (block edges split superpixels): fewer is what counts.
        expect(full).toBeGreaterThan(quick);
      } else if (id === 'scorecam') {
        expect(quick).toBe(num(b.explorer.label));
        expect(full).toBe(30); // every channel of c2
      } else {
        expect(quick).toBe(expected(b.explorer.label));
        expect(full).toBe(expected(b.full.label));
      }
      expect(full).not.toBe(quick);
    });
  }
});
