/**
 * One writer per run directory: RUN/.lock holds the owner's PID, host and start time, created
 * exclusively (link(2) of a written file, else O_EXCL) before anything in the run is written. A second writer is refused in one line; the
 * lock of a process that died on this host (kill -9, power loss) is taken over with a notice. The
 * lock goes on release, on process exit (a second Ctrl-C exits at once) and on SIGTERM/SIGHUP.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { link, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_FILE = '.lock';

export interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
  /** Random per lock: tells this lock from a later one by a process reusing the PID. */
  token: string;
}

export interface RunLock {
  dir: string;
  path: string;
  owner: LockOwner;
  /** Removes the lock file if it is still this lock's. Idempotent. */
  release(): Promise<void>;
}

/** A lock file still being written (empty) is taken for held unless older than this. */
const PARTIAL_LOCK_GRACE_MS = 10_000;

/** Locks this process holds, by lock-file path. */
const held = new Map<string, LockOwner>();

/** True when `pid` is a live process on this host (EPERM: alive, owned by another user). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: any) {
    return err?.code === 'EPERM';
  }
}

/** When process `pid` started (Linux /proc; undefined elsewhere): tells a reused PID from the owner. */
function processStartMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    // USER_HZ is 100 on every Linux build Node supports.
    return Number.isFinite(ticks) && btime ? btime * 1000 + ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

/** The owner recorded in a lock still runs: same host, PID alive and not reused since the lock. */
function ownerAlive(o: LockOwner): boolean {
  if (o.pid === process.pid) return [...held.values()].some((h) => h.token === o.token);
  if (!pidAlive(o.pid)) return false;
  const started = processStartMs(o.pid);
  const locked = Date.parse(o.startedAt);
  // Clock ticks and btime round to whole seconds: allow 2 s before calling the PID reused.
  return started === undefined || !Number.isFinite(locked) || started <= locked + 2000;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text);
    return Number.isInteger(o?.pid) && typeof o.host === 'string' ? (o as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

let exitHooked = false;

/** Synchronous release of every lock this process holds (exit and signal handlers). */
function releaseAllSync(): void {
  for (const [path, owner] of held) {
    try {
      if (parseOwner(readFileSync(path, 'utf8'))?.token === owner.token) rmSync(path, { force: true });
    } catch {
      // already gone
    }
  }
  held.clear();
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', releaseAllSync);
  // Default SIGTERM/SIGHUP handling skips 'exit' handlers; re-raise after releasing so the exit
  // status still says which signal ended the process.
  // Only when nobody else handles the signal (a server's graceful shutdown still runs 'exit').
  for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, function onSignal() {
      if (process.listenerCount(sig) > 1) return;
      releaseAllSync();
      process.off(sig, onSignal);
      process.kill(process.pid, sig);
    });
  }
}

/**
 * Creates `path` holding `text`, failing with EEXIST when it exists. A hard link from a written temp
 * file makes creation and content one step (a reader never sees an empty lock); file systems without
 * hard links get an O_EXCL create and write.
 */
async function createWithContent(path: string, text: string, token: string): Promise<void> {
  const tmp = `${path}.new-${token}`;
  await writeFile(tmp, text, { flag: 'wx' });
  try {
    await link(tmp, path);
  } catch (err: any) {
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV'].includes(err?.code)) throw err;
    await writeFile(path, text, { flag: 'wx' });
  } finally {
    await rm(tmp, { force: true });
  }
}

export class RunLocked extends Error {
  constructor(
    readonly dir: string,
    readonly owner: LockOwner | undefined,
  ) {
    super(
      owner
        ? `${dir} is in use by another convlens process (PID ${owner.pid} on ${owner.host}, since ${owner.startedAt}); wait for it to finish or stop it`
        : `${dir} is in use by another convlens process (its lock ${join(dir, LOCK_FILE)} is being written)`,
    );
    this.name = 'RunLocked';
  }
}

/**
 * Takes the lock of `dir` (which must exist). Throws RunLocked naming the folder and the owner's PID
 * when a live process holds it, or one on another host (its PID cannot be checked from here).
 */
export async function lockRunDir(dir: string, log: (s: string) => void = () => {}): Promise<RunLock> {
  const path = join(dir, LOCK_FILE);
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
  };
  const text = `${JSON.stringify(owner)}\n`;
  for (let attempt = 0; ; attempt++) {
    try {
      await createWithContent(path, text, owner.token);
      break;
    } catch (err: any) {
      if (err?.code !== 'EEXIST' || attempt >= 3) throw err;
    }
    const seen = await readFile(path, 'utf8').catch(() => undefined);
    if (seen === undefined) continue; // released meanwhile: try again
    const other = parseOwner(seen);
    if (!other) {
      const age = await stat(path).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age < PARTIAL_LOCK_GRACE_MS) throw new RunLocked(dir, undefined);
    } else if (other.host !== owner.host || ownerAlive(other)) {
      throw new RunLocked(dir, other);
    }
    // Stale: move it aside (atomic, so only one taker wins), check it is the lock judged stale, drop it.
    const aside = `${path}.stale-${owner.token}`;
    try {
      await rename(path, aside);
    } catch (err: any) {
      if (err?.code === 'ENOENT') continue;
      throw err;
    }
    const moved = await readFile(aside, 'utf8').catch(() => '');
    if (moved !== seen) {
      // Another process took the stale lock over in between: give its live lock back.
      await rename(aside, path).catch(() => {});
      throw new RunLocked(dir, parseOwner(moved));
    }
    await rm(aside, { force: true });
    log(
      other
        ? `${dir}: taking over the lock of PID ${other.pid} (no longer running, since ${other.startedAt})`
        : `${dir}: taking over an unreadable lock file`,
    );
  }
  held.set(path, owner);
  hookExit();
  return {
    dir,
    path,
    owner,
    async release() {
      if (held.get(path)?.token !== owner.token) return;
      held.delete(path);
      const now = await readFile(path, 'utf8').catch(() => '');
      if (parseOwner(now)?.token === owner.token) await rm(path, { force: true });
    },
  };
}

/** The lock's owner as recorded in `dir`, if any (for messages and tests). */
export async function lockOwner(dir: string): Promise<LockOwner | undefined> {
  return parseOwner(await readFile(join(dir, LOCK_FILE), 'utf8').catch(() => ''));
}
