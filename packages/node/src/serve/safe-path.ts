/**
 * Maps a request path onto a file inside one root, or null. The router has already decoded the path
 * once; anything that still climbs out of the root (../, absolute paths, NUL, symlinks pointing
 * outside) is refused. A double-encoded `%252e%252e` arrives as the literal name `%2e%2e` and so can
 * only name a file inside the root.
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';

export function resolveInside(root: string, requested: string): string | null {
  if (requested.includes('\0')) return null;
  // Backslashes are separators on Windows and never legitimate in our file names.
  if (requested.includes('\\')) return null;
  const parts = requested.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return null;
  const target = resolve(root, ...parts);
  const rel = relative(root, target);
  if (rel.startsWith('..') || isAbsolute(rel)) return null;
  return target;
}

/** resolveInside plus a realpath check, so a symlink inside the root cannot lead outside it. */
export async function realFileInside(root: string, requested: string): Promise<string | null> {
  const target = resolveInside(root, requested);
  if (!target) return null;
  try {
    const [realRoot, real] = await Promise.all([realpath(root), realpath(target)]);
    return real === realRoot || real.startsWith(realRoot + sep) ? real : null;
  } catch {
    return null;
  }
}
