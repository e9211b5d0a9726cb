/**
 * Guarded output folders. Node's `mkdir(p, { recursive: true })` loops forever under /proc (mkdir there
 * answers ENOENT, the parent answers EEXIST, and it retries), so output folders are made here instead:
 * find the first existing ancestor, check it is a writable folder on a real filesystem, then create
 * the missing levels one at a time. Every failure is one line naming the flag (or the path).
 */
import { constants } from 'node:fs';
import { access, mkdir, realpath, stat, statfs } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { outputLabel, registerOutput } from './write-errors.ts';

/** statfs magic numbers of kernel pseudo filesystems: writing an output there is never meant. */
const PSEUDO_FS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'],
  [0x62656570, 'configfs'],
  [0x19800202, 'mqueue'],
  [0xf97cff8c, 'selinuxfs'],
  [0x42494e4d, 'binfmt_misc'],
  [0x9fa2, 'usbdevfs'],
]);

/** Folders of device and kernel files (by resolved path, for kernels whose statfs type differs). */
const PSEUDO_ROOTS = ['/proc', '/sys', '/dev'];
const ALLOWED_UNDER_PSEUDO = ['/dev/shm'];

const under = (path: string, root: string) => path === root || path.startsWith(root + sep);

/** `name`: what to call the folder when no flag is given (default: the registered output holding it). */
function cannotWrite(path: string, flag: string | undefined, why: string, name?: string): Error {
  return new Error(`${flag ? `${flag} ${path}` : (name ?? outputLabel(path))}: cannot write there (${why})`);
}

const ERRNO_WHY: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many symbolic links',
  EIO: 'input/output error',
};
const why = (err: unknown) => {
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  return ERRNO_WHY[code] ?? (code || (err as Error)?.message || String(err));
};

export interface WritableTarget {
  /** Absolute path asked for. */
  path: string;
  /** Its first existing ancestor (or itself). */
  existing: string;
  /** Levels to create under `existing`, outermost first. */
  missing: string[];
}

/**
 * Checks, without creating anything, that `path` is (or can become) a folder this process can write:
 * its first existing ancestor is a folder, writable, on a real filesystem (not /proc, /sys, /dev).
 */
export async function checkWritableDir(path: string, flag?: string, name?: string): Promise<WritableTarget> {
  const cannot = (p: string, f: string | undefined, why: string) => cannotWrite(p, f, why, name);
  const abs = resolve(path);
  let existing = abs;
  const missing: string[] = [];
  for (;;) {
    try {
      const st = await stat(existing);
      if (!st.isDirectory()) {
        if (existing === abs)
          throw new Error(
            `${flag ? `${flag} ${path}` : (name ?? outputLabel(path))}: exists and is not a directory`,
          );
        throw cannot(path, flag, `${existing} is a file, not a folder`);
      }
      break;
    } catch (err: any) {
      if (err?.code === 'ENOENT' && dirname(existing) !== existing) {
        missing.unshift(basename(existing));
        existing = dirname(existing);
        continue;
      }
      if (err?.code === 'ENOTDIR') throw cannot(path, flag, 'a file is in the way');
      if (err instanceof Error && !(err as NodeJS.ErrnoException).code) throw err;
      throw cannot(path, flag, why(err));
    }
  }
  const real = await realpath(existing).catch((err) => {
    throw cannot(path, flag, why(err));
  });
  const target = join(real, ...missing);
  if (!ALLOWED_UNDER_PSEUDO.some((r) => under(target, r))) {
    const root = PSEUDO_ROOTS.find((r) => under(target, r));
    if (root) throw cannot(path, flag, `${root} holds kernel or device files`);
    const fs = await statfs(real).then(
      (s) => PSEUDO_FS.get(Number(s.type)),
      () => undefined,
    );
    if (fs) throw cannot(path, flag, `${real} is on the ${fs} pseudo filesystem`);
  }
  await access(real, constants.W_OK | constants.X_OK).catch((err) => {
    throw cannot(path, flag, why(err));
  });
  return { path: abs, existing, missing };
}

/**
 * Creates the output folder `path` (and missing parents) after checkWritableDir, one level at a time
 * (never a recursive mkdir, which can loop forever). Returns its absolute path. Errors name `flag PATH`,
 * else `name` (e.g. the output a file is written for), else the registered output holding `path`.
 */
export async function ensureDir(path: string, flag?: string, name?: string): Promise<string> {
  const cannot = (p: string, f: string | undefined, why: string) => cannotWrite(p, f, why, name);
  const { existing, missing, path: abs } = await checkWritableDir(path, flag, name);
  let cur = existing;
  for (const part of missing) {
    cur = join(cur, part);
    try {
      await mkdir(cur);
    } catch (err: any) {
      // Made meanwhile by someone else: fine if it is a folder now.
      if (
        err?.code === 'EEXIST' &&
        (await stat(cur).then(
          (s) => s.isDirectory(),
          () => false,
        ))
      )
        continue;
      throw cannot(path, flag, why(err));
    }
  }
  return abs;
}

/**
 * Checks an output flag's folder up front (nothing is created) and remembers the flag, so later write
 * errors under that folder name it (`--out DIR: no space left on device`).
 */
export async function checkOutputFlag(path: string, flag: string): Promise<void> {
  await checkWritableDir(path, flag);
  registerOutput(path, flag);
}
