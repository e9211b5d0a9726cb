/**
 * Choosing for the user: from the table of families, the entries (method × layer) that beat every
 * control on faithfulness and pass the randomisation test, ranked by their faithfulness score; where
 * the metrics disagree, one sentence each; and the default map with the reason in one sentence.
 */
import { better, type FamilyRow, type FamilyTable } from './faithfulness-families.ts';

export interface MethodChoice {
  key: string;
  method: string;
  layer?: string;
  reason: string;
  /** False when nothing passed every check and the choice is the best of the rest. */
  trusted: boolean;
}

export interface MethodRanking {
  /** Non-control entries, trusted first, then by faithfulness score. */
  ranking: FamilyRow[];
  disagreements: string[];
  choice?: MethodChoice;
}

const f3 = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v.toFixed(3));
const label = (r: FamilyRow) => (r.layer ? `${r.method} @ ${r.layer}` : r.method);

export function rankMethods(t: FamilyTable): MethodRanking {
  const info = new Map(t.metrics.map((m) => [m.id, m]));
  const faith = t.families.find((f) => f.family === 'faithfulness')?.metrics ?? [];
  const methods = t.rows.filter((r) => !r.control && !r.error);
  const score = (r: FamilyRow) => r.familyScores.faithfulness ?? -1;
  const ranking = [...methods].sort(
    (a, b) =>
      Number(b.trusted) - Number(a.trusted) ||
      score(b) - score(a) ||
      (a.msPerImage ?? Infinity) - (b.msPerImage ?? Infinity),
  );

  const disagreements: string[] = [];
  // Best entry by each faithfulness metric: when they differ, the metrics disagree on the winner.
  const winners = faith
    .map((id) => {
      const m = info.get(id)!;
      const best = methods
        .filter((r) => r.means[id] !== null)
        .reduce<FamilyRow | undefined>(
          (a, r) => (a && !better(m, r.means[id], a.means[id]) ? a : r),
          undefined,
        );
      return best ? { id, title: m.title, best } : undefined;
    })
    .filter((w) => w !== undefined);
  const byWinner = new Map<string, { row: FamilyRow; titles: string[] }>();
  for (const w of winners) {
    const g = byWinner.get(w.best.key) ?? { row: w.best, titles: [] };
    g.titles.push(w.title);
    byWinner.set(w.best.key, g);
  }
  if (byWinner.size > 1) {
    const groups = [...byWinner.values()].sort((a, b) => b.titles.length - a.titles.length);
    disagreements.push(
      `The faithfulness metrics pick different winners: ${groups.map((g) => `${label(g.row)} on ${g.titles.join(', ')}`).join('; ')}.`,
    );
  }
  // Good on faithfulness, bad on randomisation: the headline disagreement (one sentence per winner, one for the rest).
  const failing = methods.filter((r) => r.sanity && !r.sanity.passed && r.losesTo.length === 0);
  const rest: string[] = [];
  for (const r of failing) {
    // Wins (ties included): no other method is strictly better on that metric.
    const wins = winners
      .filter((w) => !methods.some((o) => better(info.get(w.id)!, o.means[w.id], r.means[w.id])))
      .map((w) => w.title);
    if (wins.length)
      disagreements.push(
        `${label(r)} wins on ${wins.join(' and ')} but fails the randomisation test (ρ ${f3(r.sanity!.correlation)} with a randomised model): its maps do not depend on what the model learned, so it is not trustworthy.`,
      );
    else rest.push(`${label(r)} (ρ ${f3(r.sanity!.correlation)})`);
  }
  if (rest.length)
    disagreements.push(
      `${rest.join(', ')} beat${rest.length === 1 ? 's' : ''} every control on faithfulness but fail${rest.length === 1 ? 's' : ''} the randomisation test: not trustworthy.`,
    );
  // Split verdicts matter for the candidates: the five best-ranked entries.
  for (const r of ranking.slice(0, 5))
    if (r.beatsOn.length && r.losesOn.length)
      disagreements.push(
        `${label(r)} beats every control on ${r.beatsOn.map((id) => info.get(id)!.title).join(', ')} but not on ${r.losesOn.map((id) => info.get(id)!.title).join(', ')}.`,
      );

  const best = ranking[0];
  if (!best) return { ranking, disagreements };
  const controls = t.rows.filter((r) => r.control && !r.error);
  const del = best.means.deletion;
  const bestControl = controls
    .filter((c) => c.means.deletion !== null)
    .sort((a, b) => (a.means.deletion ?? 0) - (b.means.deletion ?? 0))[0];
  const vs = bestControl
    ? `the best control's ${f3(bestControl.means.deletion)} (${label(bestControl)})`
    : '';
  const cost = best.msPerImage === null ? '' : `, ${best.msPerImage.toFixed(1)} ms per image`;
  const reason = best.trusted
    ? `${label(best)} has the best faithfulness score (${f3(score(best))}; deletion AUC ${f3(del)} vs ${vs || 'no control'}) among the methods that beat every control${best.sanity ? ' and pass the randomisation test' : ''}${cost}.`
    : `No method beat every control${methods.some((r) => r.sanity) ? ' and passed the randomisation test' : ''}; ${label(best)} is the least bad by faithfulness score (${f3(score(best))}${best.flags.length ? `; ${best.flags.join('; ')}` : ''}), so read its map with care.`;
  return {
    ranking,
    disagreements,
    choice: {
      key: best.key,
      method: best.method,
      ...(best.layer ? { layer: best.layer } : {}),
      reason,
      trusted: best.trusted,
    },
  };
}
