/**
 * The request log (pino-http): every request gets an id — the caller's `X-Request-Id` when it is a
 * plain token, else a new UUID — returned in the `X-Request-Id` header, and every failure is logged
 * exactly once, when the response ends, as one JSON line with that id, the method, the path (never
 * the query string: codes, states and pickup codes travel there), the status and the cause.
 * Error handlers do not log: they hand the cause over with {@link noteFailure}. Other requests are
 * logged at `debug`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pinoHttp } from 'pino-http';
import { describeError, logger } from '../log';

const FOREIGN_ID = /^[A-Za-z0-9._:-]{1,64}$/;

type Failed = ServerResponse & { err?: Error; failureRoute?: string };

/** Records why a response failed (and, optionally, which route failed), for the one log line. */
export function noteFailure(res: ServerResponse, error: unknown, route?: string): void {
  const failed = res as Failed;
  failed.err ??= loggable(error);
  if (route) failed.failureRoute ??= route;
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
  const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '';
  const path = url.split('?')[0] ?? '';
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}

export const requestLog = pinoHttp({
  logger,
  quietReqLogger: true,
  customAttributeKeys: { reqId: 'request_id', responseTime: 'duration_ms' },
  genReqId(req, res) {
    const offered = req.headers['x-request-id'];
    const id = typeof offered === 'string' && FOREIGN_ID.test(offered) ? offered : randomUUID();
    res.setHeader('X-Request-Id', id);
    return id;
  },
  serializers: {
    req: (req: { raw: IncomingMessage }) => ({ method: req.raw.method, path: pathOf(req.raw) }),
    res: (res: { statusCode: number }) => ({ status: res.statusCode }),
    err: (error: { raw?: unknown }) => describeError(error?.raw ?? error),
  },
  wrapSerializers: true,
  customLogLevel: (_req, res, error) => (error || (res as Failed).err || res.statusCode >= 500 ? 'error' : 'debug'),
  customSuccessMessage: () => 'request completed',
  // A failure may also end in a redirect (an authorization error sent back to the app) or a cut
  // response: the status in the line says which.
  customErrorMessage: () => 'request failed',
  customErrorObject: (req, res, _error, value: Record<string, unknown>) => ({
    ...value,
    req,
    ...((res as Failed).failureRoute ? { route: (res as Failed).failureRoute } : {}),
  }),
  customSuccessObject: (req, _res, value: Record<string, unknown>) => ({ ...value, req }),
});
