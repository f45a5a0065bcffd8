/**
 * The bearer gate's refusals (RFC 6750 §3.1, RFC 9449 §7.1): each carries what the
 * `WWW-Authenticate` challenge must say. The FHIR API renders them as OperationOutcomes, the app
 * APIs as JSON; both send the challenge from `challengeOf`.
 */
import { DomainError } from '../errors';
import { DPOP_ALGS } from '../oidc/protocol';

export type Scheme = 'Bearer' | 'DPoP';

/** 401: no usable token, or a DPoP proof that does not hold. */
export class InvalidToken extends DomainError {
  constructor(
    message: string,
    /** False when no credentials came at all: the challenge then carries no error (RFC 6750 §3.1). */
    readonly tokenPresent: boolean,
    readonly scheme: Scheme = 'Bearer',
    /** `invalid_dpop_proof` when the proof is at fault (RFC 9449 §7.1). */
    readonly error: 'invalid_token' | 'invalid_dpop_proof' = 'invalid_token',
  ) {
    super('unauthenticated', message, error);
  }
}

/** 403: the token is good, but its scopes do not allow this. */
export class InsufficientScope extends DomainError {
  constructor(
    message: string,
    readonly scope: string,
    readonly scheme: Scheme = 'Bearer',
  ) {
    super('forbidden', message, 'insufficient_scope');
  }
}

const REALM = 'realm="carevault"';
const quoted = (text: string) => text.replace(/["\\]/g, "'");

/** The `WWW-Authenticate` challenges for a gate refusal: Bearer first, and DPoP, which the APIs also accept. */
export function challengeOf(error: InvalidToken | InsufficientScope): string[] {
  const dpop = `DPoP ${REALM}, algs="${DPOP_ALGS.join(' ')}"`;
  if (error instanceof InvalidToken && !error.tokenPresent) return [`Bearer ${REALM}`, dpop];
  const params =
    error instanceof InsufficientScope
      ? `error="insufficient_scope", error_description="${quoted(error.message)}", scope="${quoted(error.scope)}"`
      : `error="${error.error}", error_description="${quoted(error.message)}"`;
  return error.scheme === 'DPoP' ? [`DPoP ${REALM}, algs="${DPOP_ALGS.join(' ')}", ${params}`] : [`Bearer ${REALM}, ${params}`];
}
