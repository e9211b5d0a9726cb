/**
 * Write errors in words, naming the output the user gave (`--out DIR: no space left on device`)
 * rather than Node's bare `ENOSPC: no space left on device, write` or a temporary sibling's name.
 */
import { basename, dirname, relative, resolve, sep } from 'node:path';

const WORDS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large for the file system',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  ENOTDIR: 'a file is in the way (not a folder)',
  EISDIR: 'a folder is in the way (not a file)',
  ENAMETOOLONG: 'name too long',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files',
  EBUSY: 'resource busy',
  EXDEV: 'cannot move across file systems',
  ENOTEMPTY: 'folder not empty',
  ENOENT: 'folder removed while writing',
};
/** Errors that can only come from writing, so a path-less one belongs to the output. */
const WRITE_ONLY = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS']);

const outputs: { root: string; label: string }[] = [];

/** Remembers that `path` is the folder given by `flag`, for naming later errors. */
export function registerOutput(path: string, flag: string): void {
  const root = resolve(path);
  if (!outputs.some((o) => o.root === root)) outputs.push({ root, label: `${flag} ${path}` });
}

/** True for `root` itself, anything inside it, and its temporary siblings (`.NAME.tmp-…`). */
function belongs(path: string, root: string): boolean {
  if (path === root || path.startsWith(root + sep)) return true;
  const rel = relative(dirname(root), path).split(sep)[0];
  return rel.startsWith(`.${basename(root)}.tmp-`);
}

function outputOf(path: string) {
  const abs = resolve(path);
  return outputs.filter((o) => belongs(abs, o.root)).sort((a, b) => b.root.length - a.root.length)[0];
}

/** The flag-and-folder label of the registered output holding `path`, else `path` itself. */
export function outputLabel(path: string): string {
  return outputOf(path)?.label ?? path;
}

/** `ENOSPC` → `no space left on device` (undefined for codes without words). */
export function errnoWords(code: string | undefined): string | undefined {
  return code ? WORDS[code] : undefined;
}

/**
 * Rewrites a file-system error met while writing `target` (a file or folder the caller was making)
 * as one line naming the output; other errors (validation, reading elsewhere) pass unchanged.
 * `tmp` paths (temporary siblings) count as the target.
 */
export function writeError(err: unknown, target: string, ...tmp: string[]): unknown {
  const e = err as NodeJS.ErrnoException;
  const words = errnoWords(e?.code);
  if (!words || e.message?.includes('cannot write there')) return err;
  const at = e.path ? resolve(e.path) : undefined;
  const ours = [target, ...tmp].map((p) => resolve(p));
  if (at && !ours.some((r) => at === r || at.startsWith(r + sep))) return err;
  const output = outputOf(target);
  const inner = output ? relative(output.root, resolve(target)) : '';
  // Temporary siblings by the name they stand for: `.last.tmp-123-abcd` → `last`.
  const shown = inner
    .split(sep)
    .map((part) => part.replace(/^\.(.+)\.tmp-[0-9a-f-]+$/, '$1'))
    .join('/');
  const what = !inner || inner.startsWith('..') ? '' : ` (writing ${shown})`;
  const out = new Error(`${output?.label ?? target}: ${words}${what}`);
  (out as NodeJS.ErrnoException).code = e.code;
  return out;
}

/**
 * For the CLI's last line: a raw Node errno error (`ENOSPC: no space left on device, write`) in words,
 * naming the registered output it concerns; anything else unchanged.
 */
export function describeFsError(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  const words = errnoWords(e?.code);
  if (!words || !e.message?.startsWith(`${e.code}:`)) return err;
  if (e.path) {
    const label = outputLabel(e.path);
    return new Error(`${label}: ${words}${label === e.path ? '' : ` (${e.path})`}`);
  }
  if (WRITE_ONLY.has(e.code!) && outputs.length > 0)
    return new Error(`${outputs.map((o) => o.label).join(', ')}: ${words}`);
  return new Error(`${words} (${e.syscall ?? e.code})`);
}
