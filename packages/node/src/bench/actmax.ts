/**
 * Activation-maximization throughput: all 10 classes of pw11 optimized at once with the product's
 * own `maximize` (Adam, default regularizers), as the peer's act-max benchmark does with 10 inputs.
 */

import type { tf } from '@convlens/core/engine/backend';
import { classObjective } from '@convlens/core/methods/actmax/objective';
import { maximize } from '@convlens/core/methods/actmax/optimize';

export async function measureActmax(model: tf.LayersModel, steps = 256): Promise<number> {
  const objectives = Array.from({ length: 10 }, (_, k) => classObjective(k));
  await maximize(model, objectives, { steps: 4 }); // warm-up: kernel setup, weight packing
  const r = await maximize(model, objectives, { steps });
  return steps / r.seconds;
}
