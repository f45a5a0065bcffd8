/**
 * oidc-provider's failures, brought into carevault's log and answers. Its `server_error` (a 500
 * from any endpoint) and koa's `error` (an error that escaped every middleware) hand the cause to
 * the request log, which writes the one structured line; with a listener on `error`, koa's own
 * printer no longer writes unstructured lines to stderr.
 *
 * The outermost middleware answers whatever escaped oidc-provider's own error handling — our
 * middleware's work after a token response (the authorization's audit line), a session saved
 * after the answer, its error page failing — so koa's fallback (plain text, every header dropped)
 * never answers. A lost database is 503 with `Retry-After` wherever it surfaced (RFC 9110
 * §15.6.4): OAuth's `temporarily_unavailable` (RFC 6749 §4.1.2.1, §5.2) as JSON for apps, or the
 * error page for browsers. Nothing else becomes more than a plain `server_error`: no stack trace
 * in any environment.
 */
import type { EventEmitter } from 'node:events';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { RETRY_AFTER_SECONDS, UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable';
import { noteFailure } from '../http/request-log';
import { entryOf, requestEntry, setEntry } from '../http/request-context';
import { describeError, log } from '../log';
import { renderError } from './views';

const SERVER_ERROR = 'Something went wrong on our side. Please try again.';

type OAuthError = { error: string; error_description: string };

/** A client that went away mid-answer is not a failure of ours. */
function isClientAbort(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNABORTED';
}
/** The status and OAuth error of something that escaped: a client's own error keeps its 4xx. */
function answerFor(error: unknown): { status: number; out: OAuthError } {
  if (isDatabaseUnavailable(error)) return { status: 503, out: { error: 'temporarily_unavailable', error_description: UNAVAILABLE_MESSAGE } };
  const { expose, status, statusCode, error: code, error_description: description, message } = (error ?? {}) as Record<string, unknown>;
  const clientStatus = typeof statusCode === 'number' ? statusCode : status;
  if (expose === true && typeof clientStatus === 'number' && clientStatus >= 400 && clientStatus < 500) {
    const text = typeof description === 'string' ? description : typeof message === 'string' ? message : 'The request is not valid.';
    return { status: clientStatus, out: { error: typeof code === 'string' ? code : 'invalid_request', error_description: text } };
  }
  return { status: 500, out: { error: 'server_error', error_description: SERVER_ERROR } };
}

/** Answers `out` as oidc-provider does: its error page for a browser, JSON for everyone else. */
async function send(ctx: KoaContextWithOIDC, status: number, out: OAuthError): Promise<void> {
  ctx.status = status;
  if (status === 503) ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
  if (ctx.accepts('json', 'html') === 'html') {
    try {
      await renderError(ctx, out);
      return;
    } catch (renderFailure) {
      log.error('error page failed', describeError(renderFailure));
    }
  }
  ctx.type = 'json';
  ctx.body = out;
}

/** Whether oidc-provider's 500 for the request came from a lost database. */
const DATABASE_LOST = requestEntry('database lost', () => false);

export function reportFailures(provider: Provider): void {
  provider.on('server_error', (ctx: KoaContextWithOIDC, error: unknown) => {
    noteFailure(ctx.res, error, ctx.oidc?.route);
    if (isDatabaseUnavailable(error)) setEntry(ctx.req, DATABASE_LOST, true);
  });
  // Provider is a koa application: its `error` event is koa's, which the typings do not list.
  (provider as unknown as EventEmitter).on('error', (error: unknown, ctx?: KoaContextWithOIDC) => {
    // As koa's own printer does: a client's error (exposed, 4xx) or a client gone away is no failure.
    const { expose, status } = (error ?? {}) as { expose?: unknown; status?: unknown };
    if (isClientAbort(error) || expose === true || (typeof status === 'number' && status < 500)) return;
    if (ctx?.res) noteFailure(ctx.res, error, ctx.oidc?.route);
    else log.error('oidc-provider failed', describeError(error));
  });

  // First in the chain (provider.use puts each before oidc-provider's routes, in order), so it
  // sees every error that escaped the rest.
  provider.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      // Headers already out, or the client gone: koa can only end the response. (While the client
      // is still there, ECONNRESET and the like come from the database's socket, not from it.)
      if (ctx.headerSent || !ctx.writable) throw error;
      const { status, out } = answerFor(error);
      if (status >= 500) noteFailure(ctx.res, error, ctx.oidc?.route);
      await send(ctx as KoaContextWithOIDC, status, out);
      return;
    }
    if (!entryOf(ctx.req, DATABASE_LOST) || ctx.status !== 500) return;
    await send(ctx as KoaContextWithOIDC, 503, { error: 'temporarily_unavailable', error_description: UNAVAILABLE_MESSAGE });
  });
}
