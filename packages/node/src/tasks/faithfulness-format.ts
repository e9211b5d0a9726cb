/** The table of families as rows of text (terminal, Markdown, lab report), and its legend. */

import type { FaithfulnessReport } from './faithfulness.ts';
import type { FamilyTable } from './faithfulness-families.ts';
import type { MethodRanking } from './method-ranking.ts';

const f3 = (v: number | null | undefined) =>
  v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(3);
const arrow = (b: string) => (b === 'lower' ? ' ↓' : b === 'higher' ? ' ↑' : '');

/** Family of each column after the first (for a grouped header), then the rows: best first, controls marked. */
export function faithfulnessRows(t: FamilyTable): string[][] {
  const info = new Map(t.metrics.map((m) => [m.id, m]));
  const head = ['method'];
  for (const f of t.families) {
    for (const id of f.metrics)
      head.push(`${f.family}: ${info.get(id)!.title}${arrow(info.get(id)!.better)}`);
    if (f.metrics.some((id) => info.get(id)!.better !== 'none')) head.push(`${f.family} score ↑`);
  }
  head.push('ms/img', 'verdict');
  const rows = [head];
  for (const r of t.rows) {
    const row = [`${r.layer ? `${r.method} @ ${r.layer}` : r.method}${r.control ? ' (control)' : ''}`];
    for (const f of t.families) {
      for (const id of f.metrics) row.push(f3(r.means[id]));
      if (f.metrics.some((id) => info.get(id)!.better !== 'none')) row.push(f3(r.familyScores[f.family]));
    }
    row.push(
      r.msPerImage === null ? '-' : r.msPerImage.toFixed(1),
      r.control ? 'control' : [r.trusted ? 'trusted' : 'FLAGGED', ...r.flags].join('; '),
    );
    rows.push(row);
  }
  return rows;
}

/** What the numbers mean and what was chosen, one line each. */
export function faithfulnessLegend(r: FaithfulnessReport): string[] {
  const acc = r.accuracy === undefined ? '' : ` (accuracy on them ${(r.accuracy * 100).toFixed(1)}%)`;
  return [
    `${r.scored} images of ${r.set} (seed ${r.seed}${r.shards ? `, merged from ${r.shards} shards` : ''}), target = the model's prediction${acc}.`,
    `Deletion/insertion: ${r.steps} steps, deleted pixels = ${r.fill}; AUC of the target score (deletion: lower is better, insertion: higher).`,
    ...(r.road
      ? [
          `ROAD: fractions ${r.road.fractions.join(', ')}, pixels ranked ${r.road.rank === 'abs' ? 'by |value|' : 'by signed value'}, removed pixels filled by noisy linear imputation (σ ${r.road.noise}); MoRF lower and LeRF higher is better.`,
        ]
      : []),
    ...(r.sanityCount
      ? [
          `Randomisation: Spearman ρ between the maps of the model and of a copy with every weight re-drawn, on the first ${r.sanityCount} images; ρ ≥ 0.5 fails (the maps ignore what the model learned).`,
        ]
      : []),
    'Family score: the share of the other entries an entry beats on each of the family’s metrics, averaged. A method is trusted when it beats every control (random map, RandomCAM, Sobel edges where registered) on most faithfulness metrics and passes randomisation.',
    'ms/img: explanation time per image on this machine.',
  ];
}

export function rankingLines(r: MethodRanking): string[] {
  return [
    ...(r.choice ? [`Auto choice: ${r.choice.reason}`] : ['Auto choice: none (no method produced a map).']),
    ...r.disagreements.map((d) => `Disagreement: ${d}`),
  ];
}

export function formatFaithfulnessMarkdown(r: FaithfulnessReport): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  const rows = faithfulnessRows(r).map((row) => `| ${row.map(esc).join(' | ')} |`);
  rows.splice(
    1,
    0,
    `|${faithfulnessRows(r)[0]
      .map(() => '---')
      .join('|')}|`,
  );
  return [
    `# Faithfulness of explanation methods: ${r.model}`,
    '',
    ...rows,
    '',
    ...rankingLines(r).map((l) => `- **${l.split(':')[0]}**:${l.slice(l.indexOf(':') + 1)}`),
    '',
    ...faithfulnessLegend(r).map((l) => `- ${l}`),
    '',
  ].join('\n');
}
