/**
 * What every request passes first, on Node's own request and response: the request log, the
 * metrics timer, the security headers and `no-store` — then the endpoints apps call at the OpenID
 * core and its published documents (token, introspection, revocation, userinfo, registration,
 * JWKS, discovery…: the routes table in oidc/routes.ts says which) go straight to oidc-provider,
 * and everything else to the express app.
 *
 * oidc-provider is a koa application. Reached through express, every request to it ran express's
 * router and had its request and response re-prototyped to express's before koa wrapped them
 * again: in `npm run bench` that was about 0.5 ms of CPU per token or introspection request, half
 * of each. The authorization and end-session endpoints still go through express, which turns their
 * form POSTs into GETs and limits anonymous authorization requests (app.ts).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { noteFailure } from './request-log';

/** A connect-style step on Node's request and response; it calls `next` once, synchronously or not. */
export type FrontStep = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** The path of a request as sent (never decoded), without its query. */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * The answer when a step or the provider fails outside any handler that could answer: a bug (no
 * step reads the database, and koa answers its own errors), logged once, answered as JSON.
 */
function fail(res: ServerResponse, error: unknown): void {
  noteFailure(res, error);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = 500;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.end(JSON.stringify({ error: 'server_error', error_description: 'Something went wrong on our side. Please try again.' }));
}

export type FrontDeps = {
  steps: readonly FrontStep[];
  /** Paths answered by `provider` without express. */
  direct(path: string): boolean;
  provider(req: IncomingMessage, res: ServerResponse): Promise<void>;
  app: RequestListener;
};

export function createFront({ steps, direct, provider, app }: FrontDeps): RequestListener {
  return (req, res) => {
    let index = 0;
    const next = (error?: unknown): void => {
      if (error !== undefined) {
        fail(res, error);
        return;
      }
      const step = steps[index];
      index += 1;
      if (step) {
        step(req, res, next);
        return;
      }
      if (direct(pathOf(req))) provider(req, res).catch((failure: unknown) => fail(res, failure));
      else app(req, res);
    };
    next();
  };
}
