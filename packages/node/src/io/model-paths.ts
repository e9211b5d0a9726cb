/**
 * Weight shard paths from a model.json are untrusted: `../secret.bin` or an absolute path must never
 * be read (and `convlens import` must never copy outside bytes into its output). A local shard must
 * resolve, symlinks included, inside the model's folder; a remote one must be under the model.json
 * URL's directory on the same origin.
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, resolve, sep } from 'node:path';

function outside(model: string, path: string, where: string): Error {
  return new Error(`${model}: weight path ${JSON.stringify(path)} ${where}; refused`);
}

/**
 * The real path of shard `path` listed in `model` (the model.json), which lives in folder `dir`.
 * Throws one line naming the model and the path when it points outside `dir`; a missing file gives
 * a `… missing weight shard (ENOENT)` line naming the file.
 */
export async function modelShardPath(model: string, dir: string, path: string): Promise<string> {
  if (typeof path !== 'string' || path === '') throw outside(model, String(path), 'is not a file name');
  if (isAbsolute(path) || /^[a-z][a-z0-9+.-]*:/i.test(path) || path.includes('\0'))
    throw outside(model, path, 'is not relative to the model folder');
  const lexical = resolve(dir, path);
  const root = await realpath(dir);
  const within = (p: string, r: string) => p.startsWith(r.endsWith(sep) ? r : r + sep);
  if (!within(lexical, resolve(dir))) throw outside(model, path, "leads outside the model's folder");
  let real: string;
  try {
    real = await realpath(lexical);
  } catch (err: any) {
    throw new Error(`${lexical}: missing weight shard (${err.code ?? err.message})`);
  }
  if (!within(real, root)) throw outside(model, path, `is a link to ${real}, outside the model's folder`);
  return real;
}

/** The URL of shard `path` of the model.json at `jsonUrl`: same origin, under its directory, or an error. */
export function modelShardUrl(jsonUrl: string, path: string): string {
  const base = new URL('.', jsonUrl);
  let url: URL;
  try {
    url = new URL(path, jsonUrl);
  } catch {
    throw outside(jsonUrl, String(path), 'is not a URL');
  }
  if (url.origin !== base.origin) throw outside(jsonUrl, path, `is on another origin (${url.origin})`);
  if (!url.pathname.startsWith(base.pathname)) throw outside(jsonUrl, path, `leads outside ${base.href}`);
  return url.href;
}
