/**
 * FHIR errors: one class per kind, each rendered once (in routes.ts) as an OperationOutcome with
 * the HTTP status FHIR's RESTful API assigns it. https://hl7.org/fhir/R4/http.html#Status-Codes
 */
export type OutcomeIssue = { severity: 'error' | 'warning' | 'information'; code: string; diagnostics: string; expression?: string[] };

export class FhirError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly expression: string[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toOutcome() {
    return operationOutcome([{ severity: 'error', code: this.code, diagnostics: this.message, ...(this.expression.length ? { expression: this.expression } : {}) }]);
  }
}

export function operationOutcome(issues: OutcomeIssue[]) {
  return { resourceType: 'OperationOutcome', issue: issues };
}

const realm = 'realm="carevault"';

/** 401: no usable token (RFC 6750 §3). */
export class Unauthorized extends FhirError {
  constructor(message: string, tokenPresent: boolean) {
    super(401, 'login', message, [], {
      'WWW-Authenticate': tokenPresent ? `Bearer ${realm}, error="invalid_token", error_description="${message}"` : `Bearer ${realm}`,
    });
  }
}

/** 403: the token's rules do not allow this (RFC 6750 §3.1 insufficient_scope). */
export class InsufficientScope extends FhirError {
  constructor(message: string, scope: string) {
    super(403, 'forbidden', message, [], {
      'WWW-Authenticate': `Bearer ${realm}, error="insufficient_scope", error_description="${message}", scope="${scope}"`,
    });
  }
}

export class ResourceNotFound extends FhirError {
  constructor(type: string, id: string) {
    super(404, 'not-found', `${type}/${id} is not in this record.`);
  }
}

export class InvalidResource extends FhirError {
  constructor(message: string, expression: string[] = []) {
    super(400, 'invalid', message, expression);
  }
}

export class Refused extends FhirError {
  constructor(message: string, status = 403) {
    super(status, status === 405 ? 'not-supported' : 'forbidden', message);
  }
}

export class VersionConflict extends FhirError {
  constructor(message: string) {
    super(412, 'conflict', message);
  }
}

export class UnsupportedMediaType extends FhirError {
  constructor() {
    super(415, 'not-supported', 'Send FHIR resources as JSON, with Content-Type application/fhir+json.');
  }
}

export class TooLarge extends FhirError {
  constructor(limit: string) {
    super(413, 'too-costly', `The resource is larger than ${limit}.`);
  }
}
