/**
 * The one place our own routes' errors become responses: a page for browsers, JSON
 * `{ error, error_description }` for API callers. Domain errors get the status of their kind; the
 * bearer gate's refusals their `WWW-Authenticate` challenge. A lost database is a 503 with
 * `Retry-After`. Unknown errors are answered with a plain 500, never a stack trace; the request
 * log (request-log.ts) writes the one line about each failure.
 */
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { InsufficientScope, InvalidToken, challengeOf } from '../api/errors';
import { DomainError, NotFound, STATUS_OF, TooManyAttempts } from '../errors';
import { RETRY_AFTER_SECONDS, UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable';
import { describeError, log } from '../log';
import { HttpError, PayloadTooLarge, BadRequest } from './errors';
import { nextStepFor } from './next-steps';
import { noteFailure } from './request-log';
import { sendPage } from './render';

/** body-parser's errors carry a `type`; turn the ones a client causes into ours. */
export function fromBodyParser(error: unknown): HttpError | undefined {
  const type = (error as { type?: unknown })?.type;
  if (type === 'entity.parse.failed') return new BadRequest('The request body is not valid: check that it is well-formed JSON or form data.');
  if (type === 'entity.too.large') return new PayloadTooLarge();
  if (type === 'parameters.too.many') return new PayloadTooLarge('The form has too many fields.');
  if (typeof type === 'string' && (type === 'encoding.unsupported' || type === 'charset.unsupported')) {
    return new HttpError(415, 'unsupported_media_type', 'The request body uses an encoding carevault does not accept.');
  }
  if (type === 'request.aborted') return new BadRequest('The request was aborted.');
  // Other client errors from express and its parsers (a malformed %-escape in the path, a body
  // whose gzip is broken) carry their 4xx status.
  const status = (error as { status?: unknown })?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new HttpError(status, 'invalid_request', 'The request is not valid: check the address and what was sent.');
  }
  return undefined;
}

export function wantsJson(req: Request): boolean {
  if (req.path.startsWith('/api/') || req.path.startsWith('/fhir')) return true;
  return !req.accepts('html') && Boolean(req.accepts('json'));
}

export const notFound: RequestHandler = (_req, _res, next) => {
  next(new NotFound());
};

/** A refusal as status, code and sentence; `undefined` for an error nobody expected. */
function refusalOf(error: unknown): { status: number; code: string; description: string } | undefined {
  if (error instanceof DomainError) return { status: STATUS_OF[error.kind], code: error.code, description: error.message };
  if (isDatabaseUnavailable(error)) return { status: 503, code: 'temporarily_unavailable', description: UNAVAILABLE_MESSAGE };
  return error instanceof HttpError ? error : fromBodyParser(error);
}

export const errorHandler: ErrorRequestHandler = (error, req, res, next) => {
  const known = refusalOf(error);
  if (!known || known.status >= 500) noteFailure(res, error);
  if (res.headersSent) {
    next(error);
    return;
  }
  const status = known?.status ?? 500;
  const code = known?.code ?? 'server_error';
  const description = known?.description ?? 'Something went wrong on our side. Please try again.';
  if (error instanceof TooManyAttempts) res.set('Retry-After', String(error.retryAfterSeconds));
  if (status === 503) res.set('Retry-After', String(RETRY_AFTER_SECONDS));
  if (error instanceof InvalidToken || error instanceof InsufficientScope) res.set('WWW-Authenticate', challengeOf(error));
  if (wantsJson(req)) {
    res.status(status).json({ error: code, error_description: description });
    return;
  }
  const title = status === 404 ? 'Page not found' : status === 503 ? 'Please try again shortly' : status >= 500 ? 'Something went wrong' : 'That did not work';
  sendPage(res, status, 'pages/error', { title, message: description, code, detail: undefined, nextStep: nextStepFor(status, code) }).catch((renderError: unknown) => {
    log.error('error page failed', { request_id: req.id, ...describeError(renderError) });
    res.status(status).type('text').send(description);
  });
};
