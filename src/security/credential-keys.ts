/**
 * Credentials at rest. A stored credential — a token, a code, a session id — is keyed by the
 * SHA-256 of its value, never by the value, so a copy of the database (a backup, a replica, a
 * read-only injection) holds nothing that can be presented. The values are random (256 bits for
 * tokens and codes, 126 for session and interaction ids, 86 for the letters of a user code), so a
 * plain hash cannot be reversed by guessing, and a lookup hashes what is presented: CPU, not a
 * round trip.
 *
 * What must come back in clear with a stored row (the device code a typed user code leads to) is
 * sealed (AES-256-GCM) under a key derived from the credential presented to read it.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/** The key a credential is stored under: SHA-256 of its value, base64url (43 characters). */
export function credentialKey(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

function sealingKey(credential: string): Buffer {
  return Buffer.from(hkdfSync('sha256', credential, 'carevault', 'sealed under a credential v1', 32));
}

/** `plaintext` encrypted under `credential`: base64url of nonce, tag and ciphertext. */
export function sealUnder(credential: string, plaintext: string): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealingKey(credential), nonce);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64url');
}

/** What {@link sealUnder} sealed, or `undefined` when `credential` is not the one it was sealed under. */
export function openUnder(credential: string, sealed: string): string | undefined {
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.length < 28) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(credential), bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(12, 28));
    return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
