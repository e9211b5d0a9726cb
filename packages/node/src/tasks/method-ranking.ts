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
  for (const r of methods) {
    const wins = winners.filter((w) => w.best.key === r.key).map((w) => w.title);
    if (r.sanity && !r.sanity.passed && (wins.length || r.losesTo.length === 0))
      disagreements.push(
        `${label(r)} ${wins.length ? `wins on ${wins.join(' and ')}` : 'beats the controls on faithfulness'} but fails the randomisation test (ρ ${f3(r.sanity.correlation)} with a randomised model): its maps do not depend on what the model learned, so it is not trustworthy.`,
      );
    if (r.beatsOn.length && r.losesOn.length)
      disagreements.push(
        `${label(r)} beats every control on ${r.beatsOn.map((id) => info.get(id)!.title).join(', ')} but not on ${r.losesOn.map((id) => info.get(id)!.title).join(', ')}.`,
      );
  }

  const best = ranking[0];
  if (!best) return { ranking, disagreements };
  const controls = t.rows.filter((r) => r.control && !r.error);
  const del = best.means.deletion;
  const vs = controls
    .filter((c) => c.means.deletion !== null)
    .map((c) => `${c.method} ${f3(c.means.deletion)}`)
    .join(', ');
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
