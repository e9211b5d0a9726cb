/** The explorer's static build (packages/web/dist), built on demand with Vite when it is missing. */
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../web');
export const APP_DIST = join(WEB_DIR, 'dist');

let building: Promise<void> | null = null;

/** Builds the app once per process when dist/index.html is absent (a clean clone); `force` rebuilds. */
export async function ensureAppBuilt(log: (s: string) => void = () => {}, force = false): Promise<string> {
  const ready = await stat(join(APP_DIST, 'index.html')).then(
    () => true,
    () => false,
  );
  if (ready && !force) return APP_DIST;
  building ??= (async () => {
    log('building the explorer app (vite build, once)…');
    const { build } = await import('vite');
    await build({ root: WEB_DIR, configFile: join(WEB_DIR, 'vite.config.ts'), logLevel: 'warn' });
  })();
  try {
    await building;
  } finally {
    building = null;
  }
  return APP_DIST;
}
