/**
 * Maps the class names a dataset uses (folder names, CSV labels) onto a model's output units: by name
 * (case, '_' and ' ' ignored; any comma-separated synonym of an ImageNet name counts: 'espresso',
 * 'Egyptian_cat'), by index ('0'…'N-1'), or, when nothing matches, in sorted order (torchvision's
 * ImageFolder rule), which is only right for a model trained on these folders.
 */
import { classNameIndex, normClassName as norm } from './class-lookup.ts';

export interface ClassMap {
  /** Model class index per dataset class; -1 for a class the model does not know. */
  toModel: number[];
  how: 'names' | 'indices' | 'sorted-order';
  unknown: string[];
}

export function mapClasses(
  dataNames: string[],
  modelNames: string[],
  modelNamed: boolean,
  o: { strict?: boolean; source: string },
): ClassMap {
  const byName = modelNamed ? classNameIndex(modelNames) : new Map<string, number[]>();
  // A folder named like a class's whole name takes that class; a shared synonym takes the first.
  const named = dataNames.map((d) => {
    const hits = byName.get(norm(d)) ?? [];
    return hits.find((i) => norm(modelNames[i]) === norm(d)) ?? hits[0] ?? -1;
  });
  const indexed = dataNames.map((d) => (/^\d+$/.test(d) && Number(d) < modelNames.length ? Number(d) : -1));
  const hits = (m: number[]) => m.filter((v) => v >= 0).length;
  let toModel: number[];
  let how: ClassMap['how'];
  if (hits(named) > 0 && hits(named) >= hits(indexed)) [toModel, how] = [named, 'names'];
  else if (hits(indexed) > 0) [toModel, how] = [indexed, 'indices'];
  else if (!o.strict && dataNames.length <= modelNames.length)
    [toModel, how] = [dataNames.map((_, i) => i), 'sorted-order'];
  else [toModel, how] = [dataNames.map(() => -1), 'names'];
  const unknown = dataNames.filter((_, i) => toModel[i] < 0);
  if (o.strict && unknown.length)
    throw new Error(
      `${o.source}: class '${unknown[0]}' is not one of the model's classes${unknown.length > 1 ? ` (and ${unknown.length - 1} more)` : ''} (--strict-classes)`,
    );
  if (unknown.length === dataNames.length)
    throw new Error(
      `${o.source}: none of its ${dataNames.length} classes ('${dataNames[0]}', …) is one of the model's ${modelNames.length} classes`,
    );
  return { toModel, how, unknown };
}
