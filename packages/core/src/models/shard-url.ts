/**
 * A remote model's weight shard paths are untrusted: a shard must be under the model.json URL's
 * directory on the same origin. Shared by the Node opener and the browser explorer.
 */

/** The one-line refusal of weight path `path` of model `model`. */
export function weightPathRefused(model: string, path: string, where: string): Error {
  return new Error(`${model}: weight path ${JSON.stringify(path)} ${where}; refused`);
}

/** The URL of shard `path` of the model.json at `jsonUrl`: same origin, under its directory, or an error. */
export function modelShardUrl(jsonUrl: string, path: string): string {
  const base = new URL('.', jsonUrl);
  let url: URL;
  try {
    url = new URL(path, jsonUrl);
  } catch {
    throw weightPathRefused(jsonUrl, String(path), 'is not a URL');
  }
  if (url.origin !== base.origin)
    throw weightPathRefused(jsonUrl, path, `is on another origin (${url.origin})`);
  if (!url.pathname.startsWith(base.pathname))
    throw weightPathRefused(jsonUrl, path, `leads outside ${base.href}`);
  return url.href;
}
