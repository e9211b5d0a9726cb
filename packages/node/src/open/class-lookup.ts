/**
 * Class lists as people type them: `543,dumbbell,coffee mug`. Each item is an index or a name, matched as
 * the dataset class map matches folder names (case, '_' and ' ' ignored; any comma-separated synonym of
 * a model's name counts, so 'coach dog' finds 'dalmatian, coach dog, carriage dog'). Since the list is
 * itself comma-separated, an item is one synonym; a name shared by two classes asks for the index.
 */

/** A class name as compared: case, '_' and runs of spaces ignored. */
export const normClassName = (s: string) =>
  s
    .toLowerCase()
    .replace(/[_\s]+/g, ' ')
    .trim();
const norm = normClassName;

/** Every class under its whole name and each comma-separated synonym (normalized), in index order. */
export function classNameIndex(classNames: string[]): Map<string, number[]> {
  const byName = new Map<string, number[]>();
  classNames.forEach((name, i) => {
    for (const key of new Set([name, ...name.split(',')].map(norm))) {
      const list = byName.get(key) ?? [];
      list.push(i);
      byName.set(key, list);
    }
  });
  return byName;
}

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
  const byName = classNameIndex(classNames);
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
    const near = nearNames(norm(item), byName, classNames);
    throw new Error(
      `${flag} '${item}' is not a class of this model${near.length ? ` (did you mean ${near.join(', ')}?)` : ` (${classNames.length} classes: give an index 0-${classNames.length - 1} or a name)`}`,
    );
  });
}

/** Up to 3 classes whose name contains `key` or is within 2 edits of it (typos: 'dumbell'). */
function nearNames(key: string, byName: Map<string, number[]>, classNames: string[]): string[] {
  const scored: [number, number][] = [];
  for (const [name, idx] of byName) {
    const d = name.includes(key) ? 0 : Math.abs(name.length - key.length) > 2 ? 3 : editDistance(name, key);
    if (d <= 2) for (const i of idx) scored.push([d, i]);
  }
  const seen = new Set<number>();
  return scored
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .filter(([, i]) => !seen.has(i) && seen.add(i))
    .slice(0, 3)
    .map(([, i]) => `${i}: ${shortClassName(classNames[i])}`);
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
