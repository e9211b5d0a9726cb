/**
 * Layer-wise relevance propagation: the target logit redistributed backwards layer by layer down to
 * the pixels (rules in lrp-rules.ts). Relevance is roughly conserved — the pixels' sum is the logit
 * less what biases and ε absorb — and the meta reports both.
 */
import * as tf from '@tensorflow/tfjs';
import { finish, resolveTargets, scores, targetScore } from './common.ts';
import { targetScores } from './deeplift.ts';
import { withPatches } from './layer-patch.ts';
import { type LrpFirstRule, type LrpRule, type LrpSettings, lrpPatches } from './lrp-rules.ts';
import type { ExplainMethod, ExplainRequest } from './types.ts';

export interface LrpOptions {
  /**
   * Rule of the layers after the first: 'epsilon-plus' (default: αβ on convolutions, ε on dense
   * layers, zennit's EpsilonPlus), 'epsilon' or 'alpha-beta' everywhere.
   */
  rule?: LrpRule;
  /** ε of the ε rule (default 0.01; added to |z|, so in the layers' units). */
  epsilon?: number;
  /** α of the αβ rule, β = α − 1 (default 1: α1β0, positive evidence only). */
  alpha?: number;
  /** Rule of the layer that reads the input: 'zplus' (default), 'w2', or 'same' as the others. */
  firstLayer?: LrpFirstRule;
}

const RULES: readonly LrpRule[] = ['epsilon-plus', 'epsilon', 'alpha-beta'];
const FIRST: readonly LrpFirstRule[] = ['zplus', 'w2', 'same'];

export function lrpSettings(o: LrpOptions = {}): LrpSettings {
  const s: LrpSettings = {
    rule: o.rule ?? 'epsilon-plus',
    epsilon: o.epsilon ?? 0.01,
    alpha: o.alpha ?? 1,
    first: o.firstLayer ?? 'zplus',
  };
  if (!RULES.includes(s.rule)) throw new Error(`rule must be one of ${RULES.join(', ')}, got '${s.rule}'`);
  if (!FIRST.includes(s.first))
    throw new Error(`firstLayer must be one of ${FIRST.join(', ')}, got '${s.first}'`);
  if (!(s.epsilon >= 0)) throw new Error(`epsilon must be ≥ 0, got ${s.epsilon}`);
  if (!(s.alpha >= 1)) throw new Error(`alpha must be ≥ 1 (β = α − 1 ≥ 0), got ${s.alpha}`);
  return s;
}

/** Relevance of each input element, [N, H, W, C], for each example's target logit. */
export function lrpRelevance(
  model: tf.LayersModel,
  x: tf.Tensor4D,
  targets: number[],
  settings: LrpSettings,
): tf.Tensor4D {
  const patches = lrpPatches(model, settings);
  return tf.tidy(() =>
    withPatches(patches, () => tf.grad((inp: tf.Tensor) => targetScore(scores(model, inp), targets))(x)),
  ) as tf.Tensor4D;
}

export const lrp: ExplainMethod<LrpOptions> = {
  id: 'lrp',
  title: 'LRP',
  description:
    'Layer-wise relevance propagation: the class logit passed back layer by layer (ε rule, z⁺ at the first layer) so each pixel gets its share; positive evidence red, negative blue.',
  needsLayer: false,
  async explain(req: ExplainRequest<LrpOptions>) {
    const targets = resolveTargets(req.model, req);
    const settings = lrpSettings(req.options);
    const rel = lrpRelevance(req.model, req.input, targets, settings);
    const logit = targetScores(req.model, req.input, targets);
    const maps = tf.tidy(() => tf.sum(rel, 3) as tf.Tensor3D);
    try {
      const sums = tf.tidy(() => tf.sum(rel, [1, 2, 3]));
      const [s, z] = await Promise.all([sums.data(), logit.data()]);
      sums.dispose();
      return await finish('lrp', maps, targets, true, {
        meta: {
          ...settings,
          ...(settings.rule === 'alpha-beta' ? { beta: settings.alpha - 1 } : {}),
          relevanceSum: Array.from(s),
          logit: Array.from(z),
          // What biases, ε and dropped negative evidence absorbed on the way down.
          conservationGap: Array.from(s, (v, i) => v - z[i]),
        },
      });
    } finally {
      tf.dispose([rel, logit, maps]);
    }
  },
};
