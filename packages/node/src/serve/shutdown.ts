/**
 * A bounded graceful stop for the explorer server: stop accepting connections, close idle keep-alive
 * ones, give requests in flight up to `graceMs` to finish, then destroy whatever is still open (a
 * stalled upload, a client that never reads) so the stop never waits on a client.
 */
import type { FastifyInstance } from 'fastify';

export interface ShutdownResult {
  /** Connections destroyed because they were still open when the grace period ended. */
  forced: number;
  ms: number;
}

export async function closeGracefully(app: FastifyInstance, graceMs: number): Promise<ShutdownResult> {
  const t0 = performance.now();
  const server = app.server;
  let forced = 0;
  // Connections whose request finished during the grace period are closed as soon as they go idle
  // (Node closes the idle ones only once, when the close starts).
  const sweep = setInterval(() => server.closeIdleConnections(), 100);
  const timer = setTimeout(() => {
    server.getConnections((_err, open) => {
      forced = open;
      server.closeAllConnections();
    });
  }, graceMs);
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
    clearInterval(sweep);
  }
  return { forced, ms: performance.now() - t0 };
}

/**
 * SIGINT/SIGTERM stop the server gracefully (bounded by `graceMs`) and exit 0; a second SIGINT or
 * SIGTERM during the stop exits at once (130). Returns a function that removes the handlers.
 */
export function stopOnSignals(
  app: FastifyInstance,
  graceMs: number,
  log: (s: string) => void,
  exit: (code: number) => void = (code) => process.exit(code),
): () => void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log(`${signal} again: exiting now`);
      exit(130);
      return;
    }
    stopping = true;
    log(`${signal}: stopping (requests in flight get up to ${graceMs / 1000} s)`);
    closeGracefully(app, graceMs).then(
      ({ forced }) => {
        if (forced > 0) log(`closed ${forced} connection(s) still open after ${graceMs / 1000} s`);
        exit(0);
      },
      (err) => {
        log(`error while stopping: ${(err as Error).message}`);
        exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
