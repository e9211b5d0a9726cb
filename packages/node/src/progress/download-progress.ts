/** Download feedback for the CLI: one progress bar per file (bytes, rate, ETA) on stderr. */
import type { DownloadOptions } from '../data/download.ts';
import { type Progress, progressBar } from './progress-bar.ts';

export function downloadProgress(log: (s: string) => void): DownloadOptions {
  let bar: Progress | undefined;
  let current = '';
  return {
    onAttempt(file, url) {
      bar?.stop();
      bar = undefined;
      current = file;
      log(`downloading ${file} from ${url}`);
    },
    onProgress(received, total, file) {
      if (!bar && file === current) bar = progressBar(file, total ?? 0, 'B');
      bar?.update(received);
      if (total !== undefined && received >= total) {
        bar?.stop();
        bar = undefined;
      }
    },
  };
}
