/**
 * How long the explorer server waits for a client, so no client can hold it (or its shutdown) open.
 * A browser on loopback or a LAN sends its headers in one packet and a 10 MB upload in well under a
 * second; the limits leave room for a slow network and cut what no honest client does:
 *
 * - headers:  10 s to send the request line and headers (slowloris);
 * - request:  60 s for a whole request, headers and body (a 10 MB upload at ~1.4 Mbit/s still fits);
 * - upload idle: 10 s without a byte of an upload's body ends it with 408 (a stalled upload is cut long
 *   before the request limit);
 * - keep-alive: 5 s idle between requests on one connection (Node's default; loopback reconnects are
 *   cheap);
 * - socket idle: 30 s without any traffic either way (nothing the server does is silent that long).
 *
 * Node checks the header and request limits every `checkEveryMs` (its default is 30 s, which would
 * let a slow client overstay the limit by that much).
 */
import type { Readable } from 'node:stream';

export interface ServerTimeouts {
  headersMs: number;
  requestMs: number;
  uploadIdleMs: number;
  keepAliveMs: number;
  socketIdleMs: number;
  checkEveryMs: number;
}

export const DEFAULT_TIMEOUTS: ServerTimeouts = {
  headersMs: 10_000,
  requestMs: 60_000,
  uploadIdleMs: 10_000,
  keepAliveMs: 5_000,
  socketIdleMs: 30_000,
  checkEveryMs: 1_000,
};

/** A request body refused while it arrives: status and the one-line reason. */
export class BodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads a request body into one buffer: at most `limit` bytes (413 as soon as a declared length or the
 * bytes received pass it) and no pause longer than `idleMs` between chunks (408).
 */
export function readBody(
  stream: Readable,
  declaredLength: number | undefined,
  { limit, idleMs }: { limit: number; idleMs: number },
): Promise<Buffer> {
  const tooLarge = () => new BodyError(413, `upload is larger than the ${limit / 2 ** 20} MB limit`);
  if (declaredLength !== undefined && declaredLength > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let timer: NodeJS.Timeout;
    const finish = (err: Error | null) => {
      clearTimeout(timer);
      stream.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (err) {
        // Nothing more is read; the reply closes the connection (see the server's error handler).
        stream.pause();
        reject(err);
      } else resolve(Buffer.concat(chunks, size));
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(
        () => finish(new BodyError(408, `upload stalled: no data for ${idleMs / 1000} s`)),
        idleMs,
      );
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) return finish(tooLarge());
      chunks.push(c);
      arm();
    };
    const onEnd = () => finish(null);
    const onError = (e: Error) => finish(e);
    const onClose = () => finish(new BodyError(400, 'the upload was aborted by the client'));
    stream.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
    arm();
  });
}
