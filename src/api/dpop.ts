/**
 * DPoP proofs at carevault's own resource servers (RFC 9449 §4.3 and §7.1): oidc-provider checks
 * proofs only at its own endpoints. A proof is a JWT signed with the key in its header, naming this
 * request's method and URL, hashing the access token, fresh, used once, and — for a bound token —
 * made with the key the token is bound to.
 */
import { createHash } from 'node:crypto';
import { EmbeddedJWK, calculateJwkThumbprint, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { DPOP_ALGS } from '../oidc/protocol';
import { InvalidToken } from './errors';

/** How far a proof's `iat` may be from now (seconds). */
const PROOF_WINDOW = 60;

export type ProofCheck = {
  proof: string | undefined;
  accessToken: string;
  method: string;
  /** The request's URL without query or fragment, as the client addressed it. */
  url: string;
  /** Remembers a proof's id until it is stale; false when it was used before. */
  firstUse(id: string, until: Date): Promise<boolean>;
};

const refuse = (message: string) => new InvalidToken(message, true, 'DPoP', 'invalid_dpop_proof');

/** Verifies the proof; returns the thumbprint of the key that made it. */
export async function verifyProof(check: ProofCheck): Promise<string> {
  if (!check.proof || check.proof.length > 8192) throw refuse('A DPoP proof is required (the DPoP header).');
  let header: { typ?: unknown; alg?: unknown; jwk?: unknown };
  try {
    header = decodeProtectedHeader(check.proof);
  } catch {
    throw refuse('The DPoP proof is not a JWT.');
  }
  if (header.typ !== 'dpop+jwt') throw refuse('The DPoP proof must have typ "dpop+jwt".');
  if (typeof header.alg !== 'string' || !(DPOP_ALGS as readonly string[]).includes(header.alg)) {
    throw refuse(`The DPoP proof must be signed with one of ${DPOP_ALGS.join(', ')}.`);
  }
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(check.proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [...DPOP_ALGS] }));
  } catch {
    throw refuse('The DPoP proof signature does not verify with the key in its header.');
  }
  const { jti, htm, htu, iat, ath } = payload;
  if (typeof jti !== 'string' || jti.length === 0) throw refuse('The DPoP proof has no jti.');
  if (htm !== check.method) throw refuse(`The DPoP proof is for ${String(htm)}, not ${check.method}.`);
  if (typeof htu !== 'string' || stripQuery(htu) !== check.url) throw refuse(`The DPoP proof is for another URL; it must name ${check.url}.`);
  const now = Math.floor(Date.now() / 1000);
  if (typeof iat !== 'number' || Math.abs(now - iat) > PROOF_WINDOW) throw refuse('The DPoP proof is not fresh: make a new one for each request.');
  const hash = createHash('sha256').update(check.accessToken).digest('base64url');
  if (ath !== hash) throw refuse('The DPoP proof does not carry the hash of this access token (ath).');
  const thumbprint = await calculateJwkThumbprint(header.jwk as JWK);
  if (!(await check.firstUse(`${thumbprint}.${jti}`, new Date((iat + PROOF_WINDOW) * 1000)))) {
    throw refuse('This DPoP proof was used before: make a new one for each request.');
  }
  return thumbprint;
}

function stripQuery(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '';
  }
}
