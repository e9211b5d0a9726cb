/**
 * Explanation maps through the issue-7 registry, drawn as overlays: whatever methods are registered
 * at run time are used; a missing one is reported as "not available yet" by the caller.
 */
import { tf } from '@convlens/core/engine/backend';
import { explainMethods } from '@convlens/core/methods/explain/registry';
import type { ExplainMethod, Explanation } from '@convlens/core/methods/explain/types';
import { mapToImage, symmetricRange, valueRange } from '@convlens/core/render/colormap';
import { type RGBAImage, upscale } from '@convlens/core/render/image';
import { overlay } from './figures.ts';

export const findMethod = (id: string): ExplainMethod | undefined =>
  explainMethods().find((m) => m.id === id);

/** Runs one method on a batch (inputs already preprocessed, N·H·W·C floats). */
export async function explainBatch(
  method: ExplainMethod,
  model: tf.LayersModel,
  x: Float32Array,
  shape: [number, number, number],
  targets: number[],
  options?: Record<string, unknown>,
): Promise<Explanation> {
  const input = tf.tensor4d(x, [targets.length, ...shape]);
  try {
    return await method.explain({ model, input, target: targets, options });
  } finally {
    input.dispose();
  }
}

/**
 * One map drawn over its digit: non-negative maps in inferno (0 → black, max → yellow) scaled to the
 * map's own max; signed maps in rdbu around 0 (blue negative, red positive).
 */
export function drawMap(e: Explanation, i: number, digit: RGBAImage, scale = 4): RGBAImage {
  const m = e.maps[i];
  const range = e.signed ? symmetricRange(m) : { min: 0, max: Math.max(valueRange(m).max, 1e-12) };
  const heat = mapToImage(m, e.width, e.height, { colormap: e.signed ? 'rdbu' : 'inferno', range });
  return upscale(overlay(digit, heat, e.signed ? 0.75 : 0.6), scale);
}
