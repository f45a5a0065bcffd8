/**
 * A package's contents at rest (issue 10, "sealed under the answer"): AES-256-GCM under a key
 * derived from the normalized secret answer with argon2id and a per-package salt. carevault keeps
 * neither the answer nor the key, so a copy of the database reveals no contents, and a wrong answer
 * shows itself as a ciphertext that does not authenticate (no verifier of the answer is stored).
 * The package id is the additional authenticated data: a sealed blob cannot be moved to another row.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { hashRaw } from '@node-rs/argon2';
import { normalizeAnswer } from '../security/answers';

const IV_BYTES = 12;
const TAG_BYTES = 16;
export const SALT_BYTES = 16;

export function newSalt(): Buffer {
  return randomBytes(SALT_BYTES);
}

/**
 * The package key. argon2id (the library's default algorithm) with OWASP's minimum cost
 * (19 MiB, 2 passes): ~50 ms here, which is what makes trying answers offline expensive.
 */
export async function deriveKey(answer: string, salt: Buffer): Promise<Buffer> {
  return hashRaw(normalizeAnswer(answer), { salt, memoryCost: 19_456, timeCost: 2, parallelism: 1, outputLen: 32 });
}

/** iv ‖ ciphertext ‖ tag. */
export function seal(plaintext: Buffer, key: Buffer, packageId: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(packageId));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

/** The plaintext, or `undefined` when `key` is not the package's (a wrong answer). */
export function open(sealed: Buffer, key: Buffer, packageId: string): Buffer | undefined {
  if (sealed.length < IV_BYTES + TAG_BYTES || key.length !== 32) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(packageId));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
}
