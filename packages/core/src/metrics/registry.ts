/**
 * Every explanation-quality metric by id (issue 19), in Quantus' six families.
 *
 * Usage (for the faithfulness job, the lab and the explorer):
 *   import { metrics, getMetric, explainerOf, strokeMasks } from '.../core/src/metrics/index.ts';
 *   const e = await method.explain({ model, input, target: targets, layer, options });
 *   const ctx: MetricContext = {
 *     input, targets, maps: e.maps, signed: e.signed, model,
 *     regions,                                     // localisation only: strokeMasks(input) or boxesMask(...)
 *     explain: explainerOf(method, model, { layer, options }), // robustness, randomisation, input invariance
 *     fill: 0, seed: 1, batch: 64,
 *   };
 *   for (const m of metrics({ families: ['faithfulness', 'complexity'] }))   // or getMetric('road')
 *     if (canRun(m, ctx)) results[m.id] = await m.compute(ctx, optionsById[m.id]);
 * Each result is { metric, values (one per input, NaN where undefined), mean, detail? }; a metric's
 * `higherIsBetter` says how to rank, `needs` what the context must carry, `cost` roughly what it costs.
 * Metrics never dispose ctx.input; each disposes what it makes. Import from
 * '@convlens/core/metrics/registry' (and '/types', '/explainer', '/regions').
 * Ids (one file each under metrics/<family>/): faithfulness: deletion (pixel flipping),
 * insertion, region-perturbation, faithfulness-correlation, monotonicity, irof, infidelity, sufficiency,
 * road (options rank 'abs'|'signed'; value = ROAD-combined, detail has MoRF/LeRF), average-drop,
 * increase-in-confidence; robustness: max-sensitivity, local-lipschitz; localisation: pointing-game,
 * relevance-mass, relevance-rank, top-k-intersection; complexity: sparseness, complexity,
 * effective-complexity; randomisation: model-randomisation, random-logit; axiomatic: completeness,
 * input-invariance.
 */
import { completeness } from './axiomatic/completeness.ts';
import { inputInvariance } from './axiomatic/input-invariance.ts';
import { complexity } from './complexity/complexity.ts';
import { effectiveComplexity } from './complexity/effective-complexity.ts';
import { sparseness } from './complexity/sparseness.ts';
import { averageDrop, increaseInConfidence } from './faithfulness/confidence.ts';
import { deletion, insertion } from './faithfulness/deletion.ts';
import { faithfulnessCorrelation } from './faithfulness/faithfulness-correlation.ts';
import { infidelity } from './faithfulness/infidelity.ts';
import { irof } from './faithfulness/irof.ts';
import { monotonicity } from './faithfulness/monotonicity.ts';
import { regionPerturbation } from './faithfulness/region-perturbation.ts';
import { roadMetric } from './faithfulness/road.ts';
import { sufficiency } from './faithfulness/sufficiency.ts';
import { pointingGameMetric } from './localisation/pointing-game.ts';
import { relevanceMassAccuracy } from './localisation/relevance-mass.ts';
import { relevanceRankAccuracy } from './localisation/relevance-rank.ts';
import { topKIntersection } from './localisation/top-k-intersection.ts';
import { modelRandomisation } from './randomisation/model-randomisation.ts';
import { randomLogit } from './randomisation/random-logit.ts';
import { localLipschitz } from './robustness/local-lipschitz.ts';
import { maxSensitivity } from './robustness/max-sensitivity.ts';
import type { Metric, MetricContext, MetricFamily } from './types.ts';

export const METRIC_FAMILIES: MetricFamily[] = [
  'faithfulness',
  'robustness',
  'localisation',
  'complexity',
  'randomisation',
  'axiomatic',
];

const ALL: Metric<any>[] = [
  deletion,
  insertion,
  regionPerturbation,
  faithfulnessCorrelation,
  monotonicity,
  irof,
  infidelity,
  sufficiency,
  roadMetric,
  averageDrop,
  increaseInConfidence,
  maxSensitivity,
  localLipschitz,
  pointingGameMetric,
  relevanceMassAccuracy,
  relevanceRankAccuracy,
  topKIntersection,
  sparseness,
  complexity,
  effectiveComplexity,
  modelRandomisation,
  randomLogit,
  completeness,
  inputInvariance,
];

/** Registered metrics in family order (optionally only some families or ids). */
export function metrics(filter: { families?: MetricFamily[]; ids?: string[] } = {}): Metric<any>[] {
  const fam = (m: Metric<any>) => METRIC_FAMILIES.indexOf(m.family);
  return ALL.filter(
    (m) =>
      (!filter.families || filter.families.includes(m.family)) && (!filter.ids || filter.ids.includes(m.id)),
  ).sort((a, b) => fam(a) - fam(b));
}

/** The metric with this id; the error lists the valid ids. */
export function getMetric(id: string): Metric<any> {
  const m = ALL.find((x) => x.id === id);
  if (!m) throw new Error(`unknown metric '${id}' (valid: ${ALL.map((x) => x.id).join(', ')})`);
  return m;
}

/** Whether the context carries what the metric needs (model, regions, a re-explain function). */
export function canRun(m: Metric<any>, ctx: MetricContext): boolean {
  return (
    (!m.needs.model || !!ctx.model) &&
    (!m.needs.region || !!ctx.regions) &&
    (!m.needs.explain || !!ctx.explain)
  );
}
