/**
 * Bounds the work anyone can cause without signing in: each authorization request makes
 * oidc-provider store an interaction (kept for INTERACTION_TTL), so requests per client address are
 * counted before it runs, and past the limit answered 429 with `Retry-After` (RFC 6585 §4) — an
 * error page, never a redirect, since the app's redirect_uri is not checked yet. The count lives
 * in PostgreSQL, shared by instances.
 */
import type { RequestHandler } from 'express';
import type { Database } from '../db';
import { createRate } from './rate-limits';

export const AUTHORIZATION_RATE_WINDOW = 60;

export function authorizationRate(db: Pick<Database, 'knex'>, perAddress: number, addressOf: (req: Parameters<RequestHandler>[0]) => string): RequestHandler {
  const rate = createRate(db, {
    prefix: 'authorize-address',
    points: perAddress,
    duration: AUTHORIZATION_RATE_WINDOW,
    message: 'Too many sign-in requests came from your network.',
  });
  return (req, _res, next) => {
    if (req.method !== 'GET' && req.method !== 'POST') {
      next();
      return;
    }
    rate.consume(addressOf(req)).then(() => next(), next);
  };
}
