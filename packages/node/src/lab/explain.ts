/**
 * Explanation maps through the issue-7 registry: whatever methods are registered at run time are used;
 * a missing one is reported as "not available yet" by the caller. They are drawn by core's
 * render/overlay.ts (drawExplanation), the one overlay renderer.
 */
import { tf } from '@convlens/core/engine/backend';
import { explainMethods } from '@convlens/core/methods/explain/registry';
import type { ExplainMethod, Explanation } from '@convlens/core/methods/explain/types';

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
