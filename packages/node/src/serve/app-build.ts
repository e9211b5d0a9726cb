/**
 * The explorer's static build (packages/web/dist), built with Vite when it is missing or older than
 * the app's sources (a clean clone, or an edited app), so `convlens serve` and the tests never serve a
 * stale or absent bundle. A build takes a few seconds.
 */
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../web');
export const APP_DIST = join(WEB_DIR, 'dist');

/** Newest modification time under the app's sources (and of the core sources it bundles). */
async function newestSource(): Promise<number> {
  const roots = [
    join(WEB_DIR, 'src'),
    join(WEB_DIR, 'index.html'),
    join(WEB_DIR, 'vite.config.ts'),
    join(WEB_DIR, '../core/src'),
  ];
  let newest = 0;
  const visit = async (p: string): Promise<void> => {
    const s = await stat(p).catch(() => null);
    if (!s) return;
    newest = Math.max(newest, s.mtimeMs);
    if (s.isDirectory()) for (const n of await readdir(p)) await visit(join(p, n));
  };
  for (const r of roots) await visit(r);
  return newest;
}

let building: Promise<void> | null = null;

/** Builds the app when dist/index.html is absent or stale (or when `force`); once per process at a time. */
export async function ensureAppBuilt(log: (s: string) => void = () => {}, force = false): Promise<string> {
  const built = await stat(join(APP_DIST, 'index.html')).catch(() => null);
  if (!force && built && built.mtimeMs >= (await newestSource())) return APP_DIST;
  building ??= (async () => {
    log(`building the explorer app (vite build${built ? ', sources changed' : ''})…`);
    const { build } = await import('vite');
    // Build beside dist and swap it in, so a server already running never sees a half-written app.
    const tmp = `${APP_DIST}.tmp-${process.pid}`;
    try {
      await build({
        root: WEB_DIR,
        configFile: join(WEB_DIR, 'vite.config.ts'),
        logLevel: 'warn',
        build: { outDir: tmp, emptyOutDir: true },
      });
      await rm(APP_DIST, { recursive: true, force: true });
      await rename(tmp, APP_DIST);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  })();
  try {
    await building;
  } finally {
    building = null;
  }
  return APP_DIST;
}
