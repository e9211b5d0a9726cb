/**
 * From raw per-image values to the table of families: each entry's (method × layer) mean per metric,
 * a score per family (the share of the other entries it beats, averaged over the family's metrics),
 * whether it beats every control on the faithfulness family, and whether it passes the randomisation
 * test. Pure and order-fixed (sums in position order), so a merge of shards gives the same table.
 */
import { FAMILY_ORDER, type MetricFamily, type MetricInfo } from './faithfulness-metrics.ts';

export interface RawEntry {
  /** `method` or `method@layer`. */
  key: string;
  method: string;
  title: string;
  layer?: string;
  /** A control every method must beat (random map, RandomCAM, Sobel edges). */
  control: boolean;
  error?: string;
  /** Images whose map came with a warning. */
  warnings: number;
  /** Per metric id, one value per image (null: not measured or NaN). */
  values: Record<string, (number | null)[]>;
  /** Explanation time per image, ms (the chunk's time shared evenly). */
  ms: (number | null)[];
}

export interface FaithfulnessRaw {
  metrics: MetricInfo[];
  /** Positions in the seeded choice of images: what shards split and merges sort by. */
  positions: number[];
  indices: number[];
  sources: string[];
  targets: number[];
  /** True label per image where the dataset has labels. */
  labels?: (number | null)[];
  entries: RawEntry[];
}

/** Randomisation ρ at or above this: the maps ignore what the model learned (Adebayo et al.). */
export const SANITY_THRESHOLD = 0.5;

export interface FamilyRow {
  key: string;
  method: string;
  title: string;
  layer?: string;
  control: boolean;
  error?: string;
  warnings: number;
  /** Mean per metric id over the images that have a value (null: none). */
  means: Record<string, number | null>;
  /** Per family: mean over its ranked metrics of the share of other entries this one beats (0…1). */
  familyScores: Partial<Record<MetricFamily, number | null>>;
  /** Controls this entry does not beat on the faithfulness family (empty: beats them all). */
  losesTo: string[];
  /** Faithfulness metrics on which it beats every control / does not. */
  beatsOn: string[];
  losesOn: string[];
  /** Randomisation test: undefined when not run. */
  sanity?: { correlation: number | null; passed: boolean };
  msPerImage: number | null;
  /** Beats every control on faithfulness and does not fail randomisation. */
  trusted: boolean;
  flags: string[];
  // The columns of the earlier table, kept for readers of faithfulness.json.
  deletionAuc: number | null;
  insertionAuc: number | null;
  score: number | null;
  road?: { morfAuc: number | null; lerfAuc: number | null };
}

export interface FamilyTable {
  metrics: MetricInfo[];
  /** Families present, in table order, with their metric ids. */
  families: { family: MetricFamily; metrics: string[] }[];
  controls: string[];
  /** Non-failed entries by faithfulness score, best first; failed ones last. */
  rows: FamilyRow[];
}

const meanOf = (xs: (number | null)[]): number | null => {
  let s = 0;
  let n = 0;
  for (const x of xs)
    if (x !== null && !Number.isNaN(x)) {
      s += x;
      n++;
    }
  return n ? s / n : null;
};

/** a better than b under the metric's direction (strictly). */
export function better(m: MetricInfo, a: number | null, b: number | null): boolean {
  if (a === null || b === null || m.better === 'none') return false;
  return m.better === 'lower' ? a < b : a > b;
}

export function familyTable(raw: FaithfulnessRaw): FamilyTable {
  const families = FAMILY_ORDER.map((family) => ({
    family,
    metrics: raw.metrics.filter((m) => m.family === family).map((m) => m.id),
  })).filter((f) => f.metrics.length > 0);
  const info = new Map(raw.metrics.map((m) => [m.id, m]));
  const ok = raw.entries.filter((e) => !e.error);
  const means = new Map(
    raw.entries.map((e) => [
      e.key,
      Object.fromEntries(raw.metrics.map((m) => [m.id, e.error ? null : meanOf(e.values[m.id] ?? [])])),
    ]),
  );
  const controls = ok.filter((e) => e.control);
  const faith = families.find((f) => f.family === 'faithfulness')?.metrics ?? [];

  const rows: FamilyRow[] = raw.entries.map((e) => {
    const mu = means.get(e.key)!;
    const familyScores: Partial<Record<MetricFamily, number | null>> = {};
    for (const f of families) {
      const shares: number[] = [];
      for (const id of f.metrics) {
        const m = info.get(id)!;
        if (m.better === 'none' || mu[id] === null || e.error) continue;
        const others = ok.filter((o) => o.key !== e.key && means.get(o.key)![id] !== null);
        if (!others.length) continue;
        shares.push(others.filter((o) => better(m, mu[id], means.get(o.key)![id])).length / others.length);
      }
      familyScores[f.family] = shares.length ? shares.reduce((a, b) => a + b, 0) / shares.length : null;
    }
    // Beating a control on the faithfulness family: winning on more than half of its measured metrics.
    const cs = controls.filter((c) => c.key !== e.key);
    const losesTo = e.error
      ? cs.map((c) => c.key)
      : cs
          .filter((c) => {
            const measured = faith.filter((id) => mu[id] !== null && means.get(c.key)![id] !== null);
            const wins = measured.filter((id) => better(info.get(id)!, mu[id], means.get(c.key)![id]));
            return !(measured.length > 0 && wins.length * 2 > measured.length);
          })
          .map((c) => c.key);
    const beatsOn = faith.filter(
      (id) =>
        mu[id] !== null &&
        cs.length > 0 &&
        cs.every((c) => better(info.get(id)!, mu[id], means.get(c.key)![id])),
    );
    const losesOn = faith.filter((id) => mu[id] !== null && !beatsOn.includes(id));
    const rho = mu['randomisation-rho'];
    const sanity =
      'randomisation-rho' in mu && !e.error
        ? { correlation: rho, passed: rho !== null && rho < SANITY_THRESHOLD }
        : undefined;
    const flags: string[] = [];
    if (e.error) flags.push(`failed: ${e.error}`);
    else if (!e.control && losesTo.length) flags.push(`does not beat ${losesTo.join(' and ')}`);
    if (sanity && !sanity.passed && !e.control)
      flags.push(
        sanity.correlation === null
          ? 'randomisation not measurable (constant maps)'
          : `fails randomisation (ρ ${sanity.correlation.toFixed(2)})`,
      );
    if (e.warnings) flags.push(`${e.warnings} map(s) with warnings`);
    const del = mu.deletion ?? null;
    const ins = mu.insertion ?? null;
    return {
      key: e.key,
      method: e.method,
      title: e.title,
      ...(e.layer ? { layer: e.layer } : {}),
      control: e.control,
      ...(e.error ? { error: e.error } : {}),
      warnings: e.warnings,
      means: mu,
      familyScores,
      losesTo,
      beatsOn,
      losesOn,
      ...(sanity ? { sanity } : {}),
      msPerImage: meanOf(e.ms),
      trusted: !e.error && !e.control && losesTo.length === 0 && (sanity?.passed ?? true),
      flags,
      deletionAuc: del,
      insertionAuc: ins,
      score: del === null || ins === null ? null : ins - del,
      ...('road-morf' in mu ? { road: { morfAuc: mu['road-morf'], lerfAuc: mu['road-lerf'] } } : {}),
    };
  });
  const key = (r: FamilyRow) => (r.error ? Number.NEGATIVE_INFINITY : (r.familyScores.faithfulness ?? -1));
  rows.sort((a, b) => key(b) - key(a) || (b.score ?? -Infinity) - (a.score ?? -Infinity));
  return { metrics: raw.metrics, families, controls: controls.map((c) => c.key), rows };
}
