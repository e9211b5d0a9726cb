/** `convlens serve`: the explorer app for any model source, on 127.0.0.1 by default. */
import { initBackend } from '@convlens/core/engine/backend';
import type { Command } from 'commander';
import { ensureAppBuilt } from '../serve/app-build.ts';
import { openServeSource, type ServeSource } from '../serve/explorer-info.ts';
import { createExplorerServer } from '../serve/server.ts';
import { action, log } from './common.ts';
import { type ModelFlags, modelOptions, modelSource, openModelOptions } from './model-options.ts';
import { nonNegativeInt } from './options.ts';

export interface ServeCliOptions extends ModelFlags {
  port: number;
  host: string;
  rebuild?: boolean;
  json?: boolean;
}

/** Opens the model (flags as every command takes them) as the explorer will serve it. */
export async function resolveServeSource(o: ModelFlags): Promise<ServeSource> {
  const source = modelSource(o)!;
  // The server never runs the model (the browser does): the cpu backend only holds it while it is read.
  await initBackend('cpu');
  return openServeSource(source, openModelOptions(o, log));
}

export async function serveCommand(o: ServeCliOptions): Promise<{ url: string; source: ServeSource }> {
  const source = await resolveServeSource(o);
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
  modelOptions(program.command('serve').description('serve the explorer (browser app) for a model'))
    .option('--port <n>', 'port (0 = any free port)', nonNegativeInt('--port'), 8080)
    .option(
      '--host <addr>',
      'address to bind (loopback by default; 0.0.0.0 exposes it to the network)',
      '127.0.0.1',
    )
    .option('--rebuild', 'rebuild the app (vite build) before serving')
    .option('--json', 'print {url} as JSON on stdout')
    .action(
      action(async (o: ServeCliOptions) => {
        const { url, source } = await serveCommand(o);
        const i = source.info;
        log(
          `serving ${i.title} (input ${i.inputShape.join('×')}, ${i.preprocessText}, resize ${i.preprocess.resize}, ${i.classNames.length} classes); Ctrl-C stops`,
        );
        process.stdout.write(o.json ? `${JSON.stringify({ url })}\n` : `${url}\n`);
      }),
    );
}
