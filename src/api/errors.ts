/**
 * The bearer gate's refusals (RFC 6750 §3.1, RFC 9449 §7.1): each carries what the
 * `WWW-Authenticate` challenge must say. The FHIR API renders them as OperationOutcomes, the app
 * APIs as JSON; both send the challenge from `challengeOf`, built by http/challenges.ts so that no
 * sentence can make the header unsendable.
 */
import { DomainError } from '../errors';
import { challenge } from '../http/challenges';
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

const REALM = 'carevault';

/** The `WWW-Authenticate` challenges for a gate refusal: Bearer first, and DPoP, which the APIs also accept. */
export function challengeOf(error: InvalidToken | InsufficientScope): string[] {
  const dpop = { realm: REALM, algs: DPOP_ALGS.join(' ') };
  if (error instanceof InvalidToken && !error.tokenPresent) return [challenge('Bearer', { realm: REALM }), challenge('DPoP', dpop)];
  const params =
    error instanceof InsufficientScope
      ? { error: 'insufficient_scope', error_description: error.message, scope: error.scope }
      : { error: error.error, error_description: error.message };
  return error.scheme === 'DPoP' ? [challenge('DPoP', { ...dpop, ...params })] : [challenge('Bearer', { realm: REALM, ...params })];
}
