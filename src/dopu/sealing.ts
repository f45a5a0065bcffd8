/**
 * A package's contents at rest (sealed under the answer): AES-256-GCM under a key
 * derived from the normalized secret answer with argon2id and a per-package salt. carevault keeps
 * neither the answer nor the key, so a copy of the database reveals no contents, and a wrong answer
 * shows itself as a ciphertext that does not authenticate (no verifier of the answer is stored).
 * The package id is the additional authenticated data: a sealed blob cannot be moved to another row.
 *
 * The derivation also takes a pepper held by the server (argon2's own secret input, RFC 9106 §3.1:
 * "K"), kept in `server_secrets` and sealed there under KEY_ENCRYPTION_SECRET when it is set: with
 * the package rows alone, trying answers offline is impossible, not merely slow.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { hashRaw } from '@node-rs/argon2';
import { normalizeAnswer } from '../security/answers';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const SALT_BYTES = 16;

export function newSalt(): Buffer {
  return randomBytes(SALT_BYTES);
}

/**
 * How a package's key is derived, stored with the package (`key_version`): 1, from the answer and
 * the salt alone (packages sealed before the pepper, opened until they end); 2, with the pepper too.
 */
type KeyVersion = 1 | 2;
const CURRENT_KEY_VERSION: KeyVersion = 2;

/**
 * A package key. argon2id (the library's default algorithm) with OWASP's minimum cost
 * (19 MiB, 2 passes): ~50 ms here, which makes even the server's own tries expensive.
 */
export async function deriveKey(answer: string, salt: Buffer, pepper?: Buffer): Promise<Buffer> {
  return hashRaw(normalizeAnswer(answer), { salt, memoryCost: 19_456, timeCost: 2, parallelism: 1, outputLen: 32, ...(pepper ? { secret: pepper } : {}) });
}

/** Package keys of every version, the pepper read once from where the server keeps it. */
export function createPackageKeys(loadPepper: () => Promise<Buffer>) {
  return {
    current: CURRENT_KEY_VERSION,
    async derive(answer: string, salt: Buffer, version: number): Promise<Buffer> {
      if (version === 1) return deriveKey(answer, salt);
      if (version === 2) return deriveKey(answer, salt, await loadPepper());
      throw new Error(`package key version ${version} is not one this server knows`);
    },
  };
}

export type PackageKeys = ReturnType<typeof createPackageKeys>;

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
