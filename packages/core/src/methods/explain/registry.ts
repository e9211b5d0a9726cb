import { MORE_ATTRIBUTION_METHODS } from './attribution-methods.ts';
import { CAM_VARIANTS } from './cam-variants.ts';
import { layerConductanceMethod } from './conductance.ts';
import { CONTROL_METHODS } from './controls.ts';
import { GRADIENT_METHODS } from './gradient-methods.ts';
import { PERTURBATION_METHODS } from './perturbation-methods.ts';
import type { ExplainMethod } from './types.ts';

/**
 * The families in the order the report and `--method all` show them; a new family is one list here.
 * The controls come last: they are baselines, not explanations.
 */
const FAMILIES: ExplainMethod<any>[][] = [
  GRADIENT_METHODS,
  CAM_VARIANTS,
  PERTURBATION_METHODS,
  MORE_ATTRIBUTION_METHODS,
  [layerConductanceMethod],
  CONTROL_METHODS,
];

/** Every explanation method by CLI id, in the order the report and `--method all` show them. */
export function explainMethods(): ExplainMethod[] {
  return FAMILIES.flat();
}

/** The method with this id; the error lists the valid ids. */
export function getExplainMethod(id: string): ExplainMethod {
  const all = explainMethods();
  const m = all.find((x) => x.id === id);
  if (!m) throw new Error(`unknown method '${id}' (valid: ${all.map((x) => x.id).join(', ')})`);
  return m;
}
