/**
 * `convlens merge PARTIAL... --out DIR`: merges shard partials of any sharded job (stats, batch explain,
 * …; the kind is read from the partials). A PARTIAL is a shard's output folder, its partial.json, or a
 * folder holding shard output folders (PARTS/shard-0 … as a scheduler's array tasks write them).
 */
import type { Command } from 'commander';
import { mergeCommand, mergeKinds } from '../tasks/merge.ts';
import type { MergeSummary } from '../tasks/merge-partials.ts';
import { action } from './common.ts';
import { asJob } from './model-job.ts';

export function formatMerge(s: MergeSummary): string {
  return [
    `merged ${s.partials} ${s.kind} partial${s.partials === 1 ? '' : 's'} (shards ${s.shards}${s.complete ? '' : ', incomplete'}): ${s.images} of ${s.datasetImages} images in ${s.seconds.toFixed(1)} s → ${s.out}`,
    `  files: ${s.files.length > 8 ? `${s.files.slice(0, 6).join(', ')}, … (${s.files.length} files)` : s.files.join(', ')}`,
  ].join('\n');
}

export function registerMergeCommand(program: Command): void {
  program
    .command('merge')
    .description(
      `merge shard partials (${mergeKinds().join(', ')}) into the one-pass result; a tree of merges gives the same`,
    )
    .argument('<partials...>', 'shard output folders, their partial.json, or folders holding shard folders')
    .requiredOption(
      '--out <dir>',
      'output directory (replaced atomically); itself a partial that merges again',
    )
    .option('--allow-missing', 'merge the shards given even when some are missing (an intermediate merge)')
    .option('--json', 'print the summary as JSON')
    .action(async (partials: string[], o: { out: string; allowMissing?: boolean; json?: boolean }) => {
      await action(async () => {
        const s = await asJob('merge', 'partials', (job) =>
          mergeCommand(partials, { out: o.out, allowMissing: o.allowMissing }, job),
        );
        process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatMerge(s)}\n`);
      })(o);
    });
}
