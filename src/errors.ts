/**
 * Domain errors: what services throw when they refuse. Each names what went wrong in a sentence a
 * person can read; it knows nothing of HTTP. Each surface maps the kind to its own form in one
 * place — a page or JSON (http/error-handler.ts), an OperationOutcome (fhir/routes.ts).
 */
export type FailureKind =
  'invalid' | 'unauthenticated' | 'forbidden' | 'not_found' | 'conflict' | 'precondition_failed' | 'gone' | 'too_large' | 'unsupported' | 'too_many_attempts';

export class DomainError extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    /** A machine-readable code for API callers (`error` in JSON answers). */
    readonly code: string = kind,
  ) {
    super(message);
  }
}

/** The input is malformed or breaks a rule; nothing was written. */
export class Invalid extends DomainError {
  constructor(message: string, code = 'invalid_request') {
    super('invalid', message, code);
  }
}

/** The email and password do not match an account. */
export class WrongCredentials extends DomainError {
  constructor(message: string) {
    super('unauthenticated', message, 'invalid_credentials');
  }
}

export class NotAllowed extends DomainError {
  constructor(message = 'You are not allowed to do that.', code = 'forbidden') {
    super('forbidden', message, code);
  }
}

export class NotFound extends DomainError {
  constructor(message = 'There is nothing at this address.') {
    super('not_found', message, 'not_found');
  }
}

/** The request clashes with what is there (an email taken, a request already answered). */
export class Conflict extends DomainError {
  constructor(message: string, code = 'conflict') {
    super('conflict', message, code);
  }
}

/** Too many wrong guesses: locked for a while. */
export class TooManyAttempts extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('too_many_attempts', message, 'too_many_requests');
  }
}

/** What an HTTP surface answers for each kind of refusal. */
export const STATUS_OF: Readonly<Record<FailureKind, number>> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  precondition_failed: 412,
  too_large: 413,
  unsupported: 405,
  too_many_attempts: 429,
};
