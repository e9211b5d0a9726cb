/**
 * GET /api/method-ranking: the served run's cached method ranking (tasks/method-choice.ts, written by
 * `convlens explain --method auto` or the lab), for the explorer's ranking panel. Ranking on request
 * would hold the server for minutes, so a missing ranking is an ordinary answer (200, `ranking: null`
 * and how to make one), not an error the browser logs.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { latestRanking } from '../tasks/method-choice.ts';

export function registerMethodRankingRoute(app: FastifyInstance, runDir: string | undefined): void {
  app.get('/api/method-ranking', async (_req, reply) => {
    const r = runDir ? await latestRanking(join(runDir, 'method-ranking')) : undefined;
    if (!r)
      return reply.send({
        ranking: null,
        message: runDir
          ? 'no method ranking yet: run `convlens explain --model RUN --method auto --index 0 --out DIR` once'
          : 'no run directory is being served (started with --model)',
      });
    return { ranking: r };
  });
}
