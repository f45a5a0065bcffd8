/**
 * The operator's endpoints: `/readyz` (ready for traffic: the database answers and every migration
 * this code knows has run; 503 otherwise, so a load balancer waits) and, when metrics are on,
 * `/metrics` in Prometheus's text format, optionally behind a bearer token (RFC 6750 §2.1).
 * `/healthz` (alive) stays in app.ts.
 */
import { timingSafeEqual } from 'node:crypto';
import express from 'express';
import type { Config } from '../config';
import { pendingMigrations, type Database } from '../db';
import { RETRY_AFTER_SECONDS } from '../db/unavailable';
import { challenge } from '../http/challenges';
import type { Metrics } from './registry';

function sameSecret(sent: string, expected: string): boolean {
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function operationsRoutes({ db, config, metrics }: { db: Database; config: Config; metrics: Metrics | undefined }): express.Router {
  const router = express.Router();

  router.get('/readyz', async (_req, res) => {
    res.set('Cache-Control', 'no-store');
    const unready = (description: string, extra: Record<string, unknown> = {}) => {
      res
        .set('Retry-After', String(RETRY_AFTER_SECONDS))
        .status(503)
        .json({ status: 'unavailable', error_description: description, ...extra });
    };
    try {
      await db.check();
    } catch {
      unready('The database does not answer.');
      return;
    }
    try {
      const pending = await pendingMigrations(db);
      if (pending.length) {
        unready('The database schema is behind: run `carevault migrate`.', { pending });
        return;
      }
    } catch {
      unready('The migrations could not be checked.');
      return;
    }
    res.json({ status: 'ready' });
  });

  if (metrics) {
    router.get('/metrics', async (req, res) => {
      res.set('Cache-Control', 'no-store');
      const token = config.metrics.token;
      if (token) {
        const sent = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
        if (!sent || !sameSecret(sent, token)) {
          res
            .set('WWW-Authenticate', challenge('Bearer', { realm: 'metrics' }))
            .status(401)
            .json({ error: 'invalid_token', error_description: 'Send the metrics token as a Bearer token.' });
          return;
        }
      }
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
  }

  return router;
}
