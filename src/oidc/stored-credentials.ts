/**
 * How each oidc-provider model is kept in `oidc_models` so that a copy of the table holds no
 * credential (security/credential-keys.ts). Shared by the adapter and the migration that converted
 * rows stored with their values as ids.
 *
 * - Keyed by the SHA-256 of the id: every model whose id is presented as a secret — access,
 *   refresh and client-credentials tokens, authorization and device codes, session ids (the
 *   `_session` cookie), interactions (the `_interaction` cookies), pushed authorization requests
 *   (`request_uri`), registration and initial access tokens, and any model oidc-provider adds —
 *   and ReplayDetection, whose id is a spent proof's, so hashing costs nothing. The payload's
 *   `jti` (the id again) is not stored; a lookup gives it back from what was presented.
 * - Keyed by the id itself: `Client` (client ids are public; the secret is hashed by the adapter)
 *   and `Grant` (a grant id authorizes nothing by itself, and `authorizations` refers to it), and
 *   `ResourceProof`, carevault's own list of DPoP proof ids already used (oidc/storage.ts).
 * - Sealed under the id (only the presented value opens it): the whole payload of an interaction,
 *   which names the session id, the device code and the pushed request it is for, and its own id
 *   in `returnTo`; a device code's user code.
 * - A device code is also found by its user code: the user code column holds its SHA-256, and the
 *   payload the device code sealed under the user code.
 */

import { credentialKey, openUnder, sealUnder } from '../security/credential-keys';

/** Models whose ids are identifiers rather than secrets. */
export const KEYED_BY_ID: readonly string[] = ['Client', 'Grant', 'ResourceProof'];

type Payload = Record<string, unknown>;

/** The key a row of `model` is stored under, for the id oidc-provider knows it by. */
export function storedKeyOf(model: string, id: string): string {
  return KEYED_BY_ID.includes(model) ? id : credentialKey(id);
}

/** The row to store for `payload` of `model` under `id`: its key, its payload, and its user code column. */
export function toStored(model: string, id: string, payload: Payload): { key: string; payload: Payload; userCodeKey: string | undefined } {
  if (KEYED_BY_ID.includes(model)) return { key: id, payload, userCodeKey: undefined };
  const { jti: _jti, ...rest } = payload;
  const key = credentialKey(id);
  if (model === 'Interaction') return { key, payload: { sealed: sealUnder(id, JSON.stringify(rest)) }, userCodeKey: undefined };
  if (model === 'DeviceCode' && typeof rest.userCode === 'string') {
    const { userCode, ...clear } = rest;
    return {
      key,
      payload: { ...clear, sealed: sealUnder(id, JSON.stringify({ userCode })), idUnderUserCode: sealUnder(userCode, id) },
      userCodeKey: credentialKey(userCode),
    };
  }
  return { key, payload: rest, userCodeKey: undefined };
}

/**
 * oidc-provider's payload of a stored row, found by its id (the value presented) or, for a device
 * code, by its user code; `undefined` when a sealed part does not open with it. A row found by
 * anything else (a session by its uid) comes back without its id.
 */
export function fromStored(model: string, stored: Payload, presented: { id: string } | { userCode: string } | undefined): Payload | undefined {
  if (KEYED_BY_ID.includes(model) || !presented) return stored;
  const id = 'id' in presented ? presented.id : typeof stored.idUnderUserCode === 'string' ? openUnder(presented.userCode, stored.idUnderUserCode) : undefined;
  if (id === undefined) return undefined;
  const { sealed, idUnderUserCode: _idUnderUserCode, ...clear } = stored;
  if (typeof sealed !== 'string') return { ...clear, jti: id };
  const opened = openUnder(id, sealed);
  return opened === undefined ? undefined : { ...clear, ...(JSON.parse(opened) as Payload), jti: id };
}
