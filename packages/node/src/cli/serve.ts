/** `convlens serve`: the explorer app for any model source, on 127.0.0.1 by default. */
import { initBackend } from '@convlens/core/engine/backend';
import { type Command, InvalidArgumentError } from 'commander';
import { ensureAppBuilt } from '../serve/app-build.ts';
import { openServeSource, type ServeSource } from '../serve/explorer-info.ts';
import { loadFeatureMap } from '../serve/feature-map-route.ts';
import { createExplorerServer } from '../serve/server.ts';
import { stopOnSignals } from '../serve/shutdown.ts';
import { action, log } from './common.ts';
import { type ModelFlags, modelOptions, modelSource, openModelOptions } from './model-options.ts';
import { numberIn } from './options.ts';

export interface ServeCliOptions extends ModelFlags {
  port: number;
  host: string;
  allowHost?: string[];
  shutdownTimeout: number;
  rebuild?: boolean;
  json?: boolean;
  featureMap?: string;
}

/** A TCP port: an integer from 0 (any free port) to 65535. */
function portNumber(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n > 65535) {
    throw new InvalidArgumentError(
      `--port must be an integer from 0 to 65535 (0 = any free port), got '${v}'`,
    );
  }
  return n;
}

/** Opens the model (flags as every command takes them) as the explorer will serve it. */
export async function resolveServeSource(o: ModelFlags): Promise<ServeSource> {
  const source = modelSource(o)!;
  // The server never runs the model (the browser does): the cpu backend only holds it while it is read.
  await initBackend('cpu');
  return openServeSource(source, openModelOptions(o, log));
}

export async function serveCommand(o: ServeCliOptions): Promise<{ url: string; source: ServeSource }> {
  const featureMap = o.featureMap
    ? { dir: o.featureMap, data: await loadFeatureMap(o.featureMap) }
    : undefined;
  const source = await resolveServeSource(o);
  const appDir = await ensureAppBuilt(log, !!o.rebuild);
  const app = createExplorerServer({ source, appDir, host: o.host, allowedHosts: o.allowHost, featureMap });
  try {
    await app.listen({ port: o.port, host: o.host });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') throw new Error(`--port ${o.port}: the port is already in use on ${o.host}`);
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND')
      throw new Error(`--host ${o.host}: not an address of this machine`);
    throw err;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `http://${host}:${port}/`;
  stopOnSignals(app, o.shutdownTimeout * 1000, log);
  return { url, source };
}

export function registerServeCommand(program: Command): void {
  modelOptions(program.command('serve').description('serve the explorer (browser app) for a model'))
    .option('--port <n>', 'port (0 = any free port)', portNumber, 8080)
    .option(
      '--host <addr>',
      'address to bind (loopback by default; 0.0.0.0 exposes it to the network)',
      '127.0.0.1',
    )
    .option(
      '--allow-host <name>',
      'also answer requests for this host name (repeatable; e.g. the machine name behind 0.0.0.0)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      '--shutdown-timeout <s>',
      'on Ctrl-C/SIGTERM, seconds requests in flight may take before their connections are closed',
      numberIn('--shutdown-timeout', 0, 600),
      5,
    )
    .option('--feature-map <dir>', 'a `convlens embed` folder for the Feature map view')
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
