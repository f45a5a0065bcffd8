/**
 * Refusals of the HTTP layer itself (a malformed body, a form without its CSRF token): each carries
 * its status, a machine code and a sentence a person can read. Services throw domain errors
 * (src/errors.ts) instead; the one error handler renders both.
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

export class Forbidden extends HttpError {
  constructor(description: string, code = 'forbidden') {
    super(403, code, description);
  }
}

export class PayloadTooLarge extends HttpError {
  constructor(description = 'The request is too large.') {
    super(413, 'payload_too_large', description);
  }
}
