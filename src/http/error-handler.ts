/**
 * The one place our own routes' errors become responses: a page for browsers, JSON
 * `{ error, error_description }` for API callers. Domain errors get the status of their kind; the
 * bearer gate's refusals their `WWW-Authenticate` challenge. A lost database is a 503 with
 * `Retry-After`. Unknown errors are answered with a plain 500. Whatever happens — even when the
 * answer itself cannot be built — nothing reaches express's own final handler, which prints stack
 * traces to clients unless NODE_ENV is `production`: no answer carries a stack trace in any
 * environment. The request log (request-log.ts) writes the one line about each failure.
 */
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { InsufficientScope, InvalidToken, challengeOf } from '../api/errors';
import { DomainError, NotFound, STATUS_OF, TooManyAttempts } from '../errors';
import { RETRY_AFTER_SECONDS, UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable';
import { describeError, log } from '../log';
import { HttpError, PayloadTooLarge, BadRequest } from './errors';
import { nextStepFor } from './next-steps';
import { noteFailure, requestIdOf } from './request-log';
import { sendPage } from './render';

const SERVER_ERROR = 'Something went wrong on our side. Please try again.';

/** A page that needs no template, for when even the error page cannot be rendered. */
const PLAIN_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Something went wrong</title></head><body><main><h1>Something went wrong</h1><p>${SERVER_ERROR}</p></main></body></html>`;

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

function wantsJson(req: Request): boolean {
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

export const errorHandler: ErrorRequestHandler = (error, req, res, _next) => {
  try {
    answer(error, req, res);
  } catch (failure) {
    answerPlainly(req, res, error, failure);
  }
};

function answer(error: unknown, req: Request, res: Response): void {
  const known = refusalOf(error);
  if (!known || known.status >= 500) noteFailure(res, error);
  if (res.headersSent) {
    // Part of the answer is out: it cannot become an error answer, only be cut short.
    if (!res.writableEnded) res.destroy();
    return;
  }
  const status = known?.status ?? 500;
  const code = known?.code ?? 'server_error';
  const description = known?.description ?? SERVER_ERROR;
  if (error instanceof TooManyAttempts) res.set('Retry-After', String(error.retryAfterSeconds));
  if (status === 503) res.set('Retry-After', String(RETRY_AFTER_SECONDS));
  if (error instanceof InvalidToken || error instanceof InsufficientScope) res.set('WWW-Authenticate', challengeOf(error));
  if (wantsJson(req)) {
    res.status(status).json({ error: code, error_description: description });
    return;
  }
  const title = status === 404 ? 'Page not found' : status === 503 ? 'Please try again shortly' : status >= 500 ? 'Something went wrong' : 'That did not work';
  sendPage(res, status, 'pages/error', { title, message: description, code, detail: undefined, nextStep: nextStepFor(status, code) }).catch(
    (renderError: unknown) => {
      log.error('error page failed', { request_id: requestIdOf(res), ...describeError(renderError) });
      if (!res.headersSent) res.status(status).type('text').send(description);
    },
  );
}

/**
 * When the answer to an error could not be built: a fixed 500 written with Node's own calls, with
 * nothing in it from the error. Both causes go to the log.
 */
function answerPlainly(req: Request, res: Response, error: unknown, failure: unknown): void {
  noteFailure(res, error);
  log.error('error answer failed', { request_id: requestIdOf(res), ...describeError(failure) });
  if (res.headersSent) {
    if (!res.writableEnded) res.destroy();
    return;
  }
  let json = true;
  try {
    json = wantsJson(req);
  } catch {
    // An unreadable Accept header: JSON it is.
  }
  // What described the body that was not sent goes; the front's headers (request id, security) stay.
  for (const name of res.getHeaderNames()) if (name.startsWith('content-') && name !== 'content-security-policy') res.removeHeader(name);
  res.statusCode = 500;
  res.setHeader('Content-Type', json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8');
  res.end(json ? JSON.stringify({ error: 'server_error', error_description: SERVER_ERROR }) : PLAIN_PAGE);
}
