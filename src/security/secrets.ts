/**
 * Secrets at rest: random URL-safe tokens, password hashing (argon2id) and encryption of stored
 * secrets (signing keys, cookie keys) under KEY_ENCRYPTION_SECRET as compact JWE (dir, A256GCM).
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import { CompactEncrypt, compactDecrypt } from 'jose';

/** A URL-safe random string carrying `bytes` bytes of entropy (default 32 bytes = 256 bits). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** argon2id with the library's defaults (OWASP's recommended minimum: m=19 MiB, t=2, p=1). */
export function hashSecret(secret: string): Promise<string> {
  return hash(secret);
}

// Verifying against this when there is no stored hash keeps a missing account as slow as a wrong
// password, so timing does not reveal which emails are registered.
const decoyHash = hash(randomToken());

export async function verifySecret(storedHash: string | undefined, secret: string): Promise<boolean> {
  try {
    return await verify(storedHash ?? (await decoyHash), secret);
  } catch {
    return false;
  }
}

function encryptionKey(secret: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, 'carevault', 'stored secrets v1', 32));
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Seals `plaintext` under the key-encryption secret, or returns it as is when there is none. */
export async function sealSecret(plaintext: string, secret: string | undefined): Promise<string> {
  if (!secret) return plaintext;
  return new CompactEncrypt(encoder.encode(plaintext))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: 'carevault-secret' })
    .encrypt(encryptionKey(secret));
}

function isSealed(value: string): boolean {
  return /^[\w-]+\.[\w-]*\.[\w-]+\.[\w-]+\.[\w-]+$/.test(value);
}

/** Opens a value stored by {@link sealSecret}. */
export async function openSecret(stored: string, secret: string | undefined): Promise<string> {
  if (!isSealed(stored)) return stored;
  if (!secret) {
    throw new Error('stored keys are encrypted: set KEY_ENCRYPTION_SECRET to the secret they were encrypted with');
  }
  try {
    const { plaintext } = await compactDecrypt(stored, encryptionKey(secret));
    return decoder.decode(plaintext);
  } catch {
    throw new Error('stored keys cannot be decrypted: KEY_ENCRYPTION_SECRET is not the secret they were encrypted with');
  }
}
