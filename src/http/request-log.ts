/**
 * The request log: every request gets an id — the caller's `X-Request-Id` when it is a plain
 * token, else a new UUID — returned in the `X-Request-Id` header, and every failure is logged
 * exactly once, when the response ends, as one JSON line with that id, the method, the path (never
 * the query string: codes, states and pickup codes travel there), the status and the cause.
 * Error handlers do not log: they hand the cause over with {@link noteFailure}. Other requests are
 * logged at `debug`.
 *
 * It is carevault's own, not pino-http, because it runs before every request yet writes only
 * failures: a request costs its id, the header, two fields and two listeners that every response
 * shares — no child logger, closure or log object unless a line is written.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeError, logger } from '../log';

const FOREIGN_ID = /^[A-Za-z0-9._:-]{1,64}$/;

type Logged = ServerResponse & { requestId?: string; startedAt?: number; failure?: Error; failureRoute?: string };

/** Records why a response failed (and, optionally, which route failed), for the one log line. */
export function noteFailure(res: ServerResponse, error: unknown, route?: string): void {
  const failed = res as Logged;
  failed.failure ??= loggable(error);
  if (route) failed.failureRoute ??= route;
}

/** The id the request log gave this response (as sent in `X-Request-Id`), for other log lines. */
export function requestIdOf(res: ServerResponse): string | undefined {
  return (res as Logged).requestId;
}

/** The error itself when it reads as one; else an Error saying what was thrown. */
function loggable(error: unknown): Error {
  try {
    // Errors of Node's own modules may come from another realm (vm contexts): judge by shape.
    if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') return error as Error;
    return new Error(`non-error thrown: ${typeof error}`);
  } catch {
    return new Error('an error was thrown whose message could not be read');
  }
}

function pathOf(req: IncomingMessage): string {
  // express rewrites `url` inside mounted routers; `originalUrl` is what was asked.
  const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '';
  const path = url.split('?')[0] ?? '';
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}

export function requestLog(req: IncomingMessage, res: ServerResponse, next: () => void): void {
  const offered = req.headers['x-request-id'];
  const id = typeof offered === 'string' && FOREIGN_ID.test(offered) ? offered : randomUUID();
  res.setHeader('X-Request-Id', id);
  const logged = res as Logged;
  logged.requestId = id;
  logged.startedAt = Date.now();
  // 'close' comes once per response, after 'finish' or instead of it when the response is cut
  // off. The listeners are module-level functions, so attaching them allocates nothing.
  res.on('close', onClose);
  res.on('error', onError);
  next();
}

/** An error on the response before it closed, such as a write after `end`: a bug in the handler. */
function onError(this: ServerResponse, error: Error): void {
  noteFailure(this, error);
}

function onClose(this: ServerResponse): void {
  // An error after the line is written would be swallowed unseen: left unhandled, it is loud.
  this.removeListener('error', onError);
  const res = this as Logged;
  const failed = res.failure !== undefined || res.statusCode >= 500;
  if (!failed && !logger.isLevelEnabled('debug')) return;
  const line: Record<string, unknown> = {
    request_id: res.requestId,
    duration_ms: Date.now() - (res.startedAt ?? Date.now()),
    req: { method: res.req.method, path: pathOf(res.req) },
    res: { status: res.statusCode },
  };
  if (!failed) {
    logger.debug(line, 'request completed');
    return;
  }
  // A failure may also end in a redirect (an authorization error sent back to the app) or a cut
  // response: the status in the line says which.
  line.err = describeError(res.failure ?? new Error(`failed with status code ${res.statusCode}`));
  if (res.failureRoute) line.route = res.failureRoute;
  logger.error(line, 'request failed');
}
