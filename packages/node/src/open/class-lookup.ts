/**
 * Class lists as people type them: `543,dumbbell,coffee mug`. Each item is an index or a name, matched as
 * the dataset class map matches folder names (case, '_' and ' ' ignored; any comma-separated synonym of
 * a model's name counts, so 'coach dog' finds 'dalmatian, coach dog, carriage dog'). Since the list is
 * itself comma-separated, an item is one synonym; a name shared by two classes asks for the index.
 */

const norm = (s: string) =>
  s
    .toLowerCase()
    .replace(/[_\s]+/g, ' ')
    .trim();

/** The first synonym: 'dalmatian' for 'dalmatian, coach dog, carriage dog'. */
export const shortClassName = (name: string) => name.split(',')[0].trim() || name;

/**
 * Model class indices for a comma-separated list of indices and names ('all': every class). Indices are
 * returned unchecked (the caller's range check names the model's class count); names must match.
 */
export function parseClassList(text: string, classNames: string[], flag = '--class'): number[] {
  if (text.trim() === 'all') return classNames.map((_, i) => i);
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === ''))
    throw new Error(`${flag} must be a comma-separated list of class indices or names, got '${text}'`);
  const byName = new Map<string, number[]>();
  classNames.forEach((name, i) => {
    for (const key of new Set([name, ...name.split(',')].map(norm))) {
      const list = byName.get(key) ?? [];
      list.push(i);
      byName.set(key, list);
    }
  });
  return items.map((item) => {
    if (/^\d+$/.test(item)) return Number(item);
    if (/^-\d+$/.test(item)) throw new Error(`${flag}: class indices are ≥ 0, got ${item}`);
    let hits = byName.get(norm(item));
    // 'maillot' is class 638's whole name and a synonym of 639's: the whole name wins.
    const whole = hits?.filter((i) => norm(classNames[i]) === norm(item));
    if (whole?.length === 1) hits = whole;
    if (hits?.length === 1) return hits[0];
    if (hits && hits.length > 1)
      throw new Error(
        `${flag} '${item}' names ${hits.length} classes (${hits.map((i) => `${i}: ${shortClassName(classNames[i])}`).join(', ')}); give the index`,
      );
    const near = classNames
      .map((n, i) => [n, i] as const)
      .filter(([n]) => norm(n).includes(norm(item)))
      .slice(0, 3)
      .map(([n, i]) => `${i}: ${shortClassName(n)}`);
    throw new Error(
      `${flag} '${item}' is not a class of this model${near.length ? ` (did you mean ${near.join(', ')}?)` : ` (${classNames.length} classes: give an index 0-${classNames.length - 1} or a name)`}`,
    );
  });
}
