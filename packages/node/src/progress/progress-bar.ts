/**
 * Progress bars on stderr (cli-progress): count, rate, ETA and live metrics. On a terminal the bar
 * redraws in place; elsewhere (CI logs) it prints a line every few seconds.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(value: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

export function progressBar(
  label: string,
  total: number,
  unit: string,
  extra = '',
  initial: Record<string, string | number> = {},
): Progress {
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}${extra}`,
      barsize: 24,
      hideCursor: false,
      noTTYOutput: true,
      notTTYSchedule: 5000,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const t0 = performance.now();
  bar.start(total, 0, { rate: '-', ...initial });
  return {
    update(value, payload = {}) {
      const secs = (performance.now() - t0) / 1000;
      bar.update(value, { rate: secs > 0 ? Math.round(value / secs) : '-', ...payload });
    },
    stop() {
      bar.stop();
    },
  };
}
