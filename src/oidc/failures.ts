/**
 * oidc-provider's failures, brought into carevault's log and answers. Its `server_error` (a 500
 * from any endpoint) and koa's `error` (an error that escaped every middleware) hand the cause to
 * the request log, which writes the one structured line; with a listener on `error`, koa's own
 * printer no longer writes unstructured lines to stderr. A lost database becomes 503 with
 * `Retry-After`: OAuth's `temporarily_unavailable` (RFC 6749 §4.1.2.1) as JSON for apps, or the
 * error page for browsers.
 */
import type { EventEmitter } from 'node:events';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { RETRY_AFTER_SECONDS, UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable';
import { noteFailure } from '../http/request-log';
import { describeError, log } from '../log';
import { renderError } from './views';

/** A client that went away mid-answer is not a failure of ours. */
function isClientAbort(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNABORTED';
}

export function reportFailures(provider: Provider): void {
  const databaseLost = new WeakSet<object>();

  provider.on('server_error', (ctx: KoaContextWithOIDC, error: unknown) => {
    noteFailure(ctx.res, error, ctx.oidc?.route);
    if (isDatabaseUnavailable(error)) databaseLost.add(ctx);
  });
  // Provider is a koa application: its `error` event is koa's, which the typings do not list.
  (provider as unknown as EventEmitter).on('error', (error: unknown, ctx?: KoaContextWithOIDC) => {
    // As koa's own printer does: a client's error (exposed, 4xx) or a client gone away is no failure.
    const { expose, status } = (error ?? {}) as { expose?: unknown; status?: unknown };
    if (isClientAbort(error) || expose === true || (typeof status === 'number' && status < 500)) return;
    if (ctx?.res) noteFailure(ctx.res, error, ctx.oidc?.route);
    else log.error('oidc-provider failed', describeError(error));
  });

  provider.use(async (ctx, next) => {
    await next();
    if (!databaseLost.has(ctx) || ctx.status !== 500) return;
    const out = { error: 'temporarily_unavailable', error_description: UNAVAILABLE_MESSAGE };
    ctx.status = 503;
    ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
    if (ctx.type === 'text/html') await renderError(ctx as KoaContextWithOIDC, out);
    else ctx.body = out;
  });
}
