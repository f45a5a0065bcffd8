/**
 * Errors our own routes throw. Each carries its HTTP status, a machine code and a sentence a person
 * can read; the one error handler in app.ts renders them as a page or as JSON.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly description: string,
  ) {
    super(description);
  }
}

export class BadRequest extends HttpError {
  constructor(description: string, code = 'invalid_request') {
    super(400, code, description);
  }
}

export class NotFound extends HttpError {
  constructor(description = 'There is nothing at this address.') {
    super(404, 'not_found', description);
  }
}

export class Forbidden extends HttpError {
  constructor(description = 'You are not allowed to do that.', code = 'forbidden') {
    super(403, code, description);
  }
}

export class PayloadTooLarge extends HttpError {
  constructor(description = 'The request is too large.') {
    super(413, 'payload_too_large', description);
  }
}

export class TooManyRequests extends HttpError {
  constructor(
    description: string,
    readonly retryAfterSeconds: number,
  ) {
    super(429, 'too_many_requests', description);
  }
}
