/**
 * Bounds the work anyone can cause without signing in: each authorization request makes
 * oidc-provider store an interaction (kept for INTERACTION_TTL), so requests per client address are
 * counted before it runs, and past the limit answered 429 with `Retry-After` (RFC 6585 §4) — an
 * error page, never a redirect, since the app's redirect_uri is not checked yet. The count lives
 * in PostgreSQL, shared by instances.
 */
import type { RequestHandler } from 'express';
import type { Rate } from './limiters';

/** `rate` is the `authorize-address` rate (rate-limits.ts). */
export function authorizationRate(rate: Rate, addressOf: (req: Parameters<RequestHandler>[0]) => string): RequestHandler {
  return (req, _res, next) => {
    if (req.method !== 'GET' && req.method !== 'POST') {
      next();
      return;
    }
    rate.consume(addressOf(req)).then(() => next(), next);
  };
}
