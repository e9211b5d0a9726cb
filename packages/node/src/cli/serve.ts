/** `convlens serve`: the explorer app for a run directory or a tfjs model.json, on 127.0.0.1 by default. */
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { ensureAppBuilt } from '../serve/app-build.ts';
import { type ServeSource, sourceFromModel, sourceFromRun } from '../serve/explorer-info.ts';
import { createExplorerServer } from '../serve/server.ts';
import { action, log } from './common.ts';
import { nonNegativeInt } from './options.ts';

export interface ServeCliOptions {
  run?: string;
  model?: string;
  port: number;
  host: string;
  inputRange?: string;
  rebuild?: boolean;
  json?: boolean;
}

function parseRange(v: string): [number, number] {
  const parts = v.split(',').map(Number);
  if (parts.length !== 2 || !parts.every(Number.isFinite) || parts[0] >= parts[1]) {
    throw new Error(`--input-range must be LOW,HIGH with LOW < HIGH (e.g. 0,1 or -1,1), got '${v}'`);
  }
  return parts as [number, number];
}

export async function resolveServeSource(o: Pick<ServeCliOptions, 'run' | 'model' | 'inputRange'>) {
  if (o.run && o.model) throw new Error('give either --run or --model, not both');
  if (!o.run && !o.model) throw new Error('give --run RUN_DIR or --model MODEL_JSON');
  if (o.run) {
    const s = await stat(o.run).catch(() => null);
    if (!s?.isDirectory()) throw new Error(`--run ${o.run}: not a directory`);
    return sourceFromRun(o.run);
  }
  return sourceFromModel(o.model!, o.inputRange ? parseRange(o.inputRange) : undefined);
}

export async function serveCommand(o: ServeCliOptions): Promise<{ url: string; source: ServeSource }> {
  const range = o.inputRange ? parseRange(o.inputRange) : undefined;
  const source = await resolveServeSource({ ...o, inputRange: range ? o.inputRange : undefined });
  const appDir = await ensureAppBuilt(log, !!o.rebuild);
  const app = createExplorerServer({ source, appDir });
  await app.listen({ port: o.port, host: o.host });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `http://${host}:${port}/`;
  const stop = () => {
    app.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return { url, source };
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the explorer (browser app) for a run directory or a tfjs model.json')
    .option('--run <dir>', 'run directory written by `convlens train`')
    .option('--model <model.json>', 'a tfjs layers model.json (class names from metadata.json beside it)')
    .option('--port <n>', 'port (0 = any free port)', nonNegativeInt('--port'), 8080)
    .option(
      '--host <addr>',
      'address to bind (loopback by default; 0.0.0.0 exposes it to the network)',
      '127.0.0.1',
    )
    .option(
      '--input-range <low,high>',
      '--model: pixel range the model expects (default -1,1 for RGB, 0,1 for gray)',
    )
    .option('--rebuild', 'rebuild the app (vite build) before serving')
    .option('--json', 'print {url} as JSON on stdout')
    .action(
      action(async (o: ServeCliOptions) => {
        const { url, source } = await serveCommand(o);
        log(`serving ${source.info.title} (input ${source.info.inputShape.join('×')}); Ctrl-C stops`);
        process.stdout.write(o.json ? `${JSON.stringify({ url })}\n` : `${url}\n`);
      }),
    );
}
