import { layerConductanceMethod } from './conductance.ts';
import { GRADIENT_METHODS } from './gradient-methods.ts';
import { PERTURBATION_METHODS } from './perturbation-methods.ts';
import type { ExplainMethod } from './types.ts';

/** Every explanation method by CLI id, in the order the report and `--method all` show them. */
export function explainMethods(): ExplainMethod[] {
  return [...GRADIENT_METHODS, ...PERTURBATION_METHODS, layerConductanceMethod];
}

/** The method with this id; the error lists the valid ids. */
export function getExplainMethod(id: string): ExplainMethod {
  const all = explainMethods();
  const m = all.find((x) => x.id === id);
  if (!m) throw new Error(`unknown method '${id}' (valid: ${all.map((x) => x.id).join(', ')})`);
  return m;
}
