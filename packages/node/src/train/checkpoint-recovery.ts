/**
 * Finding the checkpoint after a crash. The swap (checkpoint.ts) can stop between its renames, leaving
 * `last` missing and complete copies under `last.prev` and `.last.tmp-<pid>-…` (older convlens
 * versions also left `.last.tmp-<pid>-…-old`). recoverCheckpoint keeps a complete `last`, else
 * promotes the newest complete copy (by epoch, then save time) to `last`; copies are judged complete
 * by reading their state file and checking the sizes of the optimizer and weight files.
 */
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { modelShardPath } from '../io/model-paths.ts';
import type { CheckpointState } from './checkpoint.ts';
import { pidAlive } from './run-lock.ts';

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, string: 0 };

/** `.NAME.tmp-<pid>-…`: a copy being (or left half-) written by process pid. */
function tempPid(entry: string, name: string): number | undefined {
  const m = new RegExp(`^\\.${name.replace(/\W/g, '\\$&')}\\.tmp-(\\d+)-`).exec(entry);
  return m ? Number(m[1]) : undefined;
}

/** The copy's state when it is complete, else undefined. */
export async function completeCopy(dir: string): Promise<CheckpointState | undefined> {
  try {
    const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as CheckpointState;
    if (!Number.isInteger(state?.epoch) || !Array.isArray(state.records) || !state.optimizer?.specs) return;
    if ((await stat(join(dir, 'optimizer.bin'))).size !== state.optimizer.bytes) return;
    const model = JSON.parse(await readFile(join(dir, 'model', 'model.json'), 'utf8'));
    for (const group of model.weightsManifest ?? []) {
      const want = (group.weights ?? []).reduce(
        (n: number, w: { shape: number[]; dtype?: string }) =>
          n + w.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[w.dtype ?? 'float32'] ?? 4),
        0,
      );
      let have = 0;
      // Through the shard-path guard: a manifest path leading outside the copy makes it incomplete.
      for (const p of group.paths)
        have += (await stat(await modelShardPath(join(dir, 'model', 'model.json'), join(dir, 'model'), p)))
          .size;
      if (have !== want) return;
    }
    return state;
  } catch {
    return undefined;
  }
}

/** Removes `.NAME.tmp-<pid>-…` folders of processes that no longer run (never this process's own). */
export async function removeOrphanCopies(parent: string, name: string, keep?: string): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await readdir(parent).catch(() => [] as string[])) {
    const pid = tempPid(entry, name);
    if (pid === undefined || pid === process.pid || pidAlive(pid) || entry === keep) continue;
    await rm(join(parent, entry), { recursive: true, force: true });
    removed.push(entry);
  }
  return removed;
}

/**
 * Makes `dir` (e.g. RUN/checkpoints/last) hold the newest complete checkpoint when one exists, and
 * removes orphan temporary copies. Returns the epoch of `dir` afterwards, or undefined when no
 * complete copy exists. Call with the run's lock held.
 */
export async function recoverCheckpoint(
  dir: string,
  log: (s: string) => void = () => {},
): Promise<number | undefined> {
  const parent = dirname(dir);
  const name = basename(dir);
  const current = await completeCopy(dir);
  let chosen: string | undefined;
  if (!current) {
    const entries = await readdir(parent).catch(() => [] as string[]);
    const candidates: { path: string; state: CheckpointState }[] = [];
    for (const entry of entries) {
      if (entry !== `${name}.prev` && tempPid(entry, name) === undefined) continue;
      // A live process's copy in the making is not ours to take (with the lock held there is none).
      const pid = tempPid(entry, name);
      if (pid !== undefined && pid !== process.pid && pidAlive(pid)) continue;
      const state = await completeCopy(join(parent, entry));
      if (state) candidates.push({ path: join(parent, entry), state });
    }
    candidates.sort(
      (a, b) => b.state.epoch - a.state.epoch || Date.parse(b.state.savedAt) - Date.parse(a.state.savedAt),
    );
    const best = candidates[0];
    if (best) {
      const broken = await stat(dir).then(
        () => true,
        () => false,
      );
      if (broken) await rm(dir, { recursive: true, force: true });
      await rename(best.path, dir);
      chosen = basename(best.path);
      log(
        `checkpoint: ${broken ? `${dir} was incomplete; ` : `${dir} was missing (a crash during the swap); `}` +
          `recovered the copy after epoch ${best.state.epoch} from ${chosen}`,
      );
    }
  }
  await removeOrphanCopies(parent, name);
  if (current) return current.epoch;
  return chosen ? (await completeCopy(dir))?.epoch : undefined;
}
