/**
 * Weight shard paths from a model.json are untrusted: `../secret.bin` or an absolute path must never
 * be read (and `convlens import` must never copy outside bytes into its output). A local shard must
 * resolve, symlinks included, inside the model's folder; a remote one must be under the model.json
 * URL's directory on the same origin.
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, resolve, sep } from 'node:path';
import { weightPathRefused } from '@convlens/core/models/shard-url';

/**
 * The real path of shard `path` listed in `model` (the model.json), which lives in folder `dir`.
 * Throws one line naming the model and the path when it points outside `dir`; a missing file gives
 * a `… missing weight shard (ENOENT)` line naming the file.
 */
export async function modelShardPath(model: string, dir: string, path: string): Promise<string> {
  if (typeof path !== 'string' || path === '')
    throw weightPathRefused(model, String(path), 'is not a file name');
  if (isAbsolute(path) || /^[a-z][a-z0-9+.-]*:/i.test(path) || path.includes('\0'))
    throw weightPathRefused(model, path, 'is not relative to the model folder');
  const lexical = resolve(dir, path);
  const root = await realpath(dir);
  const within = (p: string, r: string) => p.startsWith(r.endsWith(sep) ? r : r + sep);
  if (!within(lexical, resolve(dir)))
    throw weightPathRefused(model, path, "leads outside the model's folder");
  let real: string;
  try {
    real = await realpath(lexical);
  } catch (err: any) {
    throw new Error(`${lexical}: missing weight shard (${err.code ?? err.message})`);
  }
  if (!within(real, root))
    throw weightPathRefused(model, path, `is a link to ${real}, outside the model's folder`);
  return real;
}
