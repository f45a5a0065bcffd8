/**
 * Pickup codes (DESIGN.md "DOPU": 20 letters shown as 5 groups of 4, `JKWZ-QNMN-VHRX-ZGNR-GZNH`;
 * DESIGN.md's own example `JKYZ-…` has a Y, which this alphabet leaves out).
 * The alphabet is the 20 consonants oidc-provider's device flow uses for `charset: 'base-20'`, so
 * pickup codes and Patient Connect codes look alike; no vowels (no words) and none of the
 * look-alikes of digits. 20 letters of 20 give 86 bits from the CSPRNG: too many to guess, so a
 * plain SHA-256 is enough to store the code without keeping it.
 */
import { createHash, randomInt } from 'node:crypto';

export const CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const LENGTH = 20;
const NORMALIZED = new RegExp(`^[${CODE_ALPHABET}]{${LENGTH}}$`);

/** A fresh code, normalized (20 capitals, no dashes). */
export function newPickupCode(): string {
  let code = '';
  for (let i = 0; i < LENGTH; i += 1) code += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return code;
}

/** `JKWZQNMN…` → `JKWZ-QNMN-VHRX-ZGNR-GZNH`, as people see and type it. */
export function formatPickupCode(code: string): string {
  return code.match(/.{1,4}/g)?.join('-') ?? code;
}

/** A typed code in any case, with or without dashes or spaces; `undefined` if it cannot be one. */
export function normalizePickupCode(typed: string): string | undefined {
  const code = typed.replace(/[\s\-‐‑–—]/g, '').toUpperCase();
  return NORMALIZED.test(code) ? code : undefined;
}

/** What the database keeps of a code. */
export function hashPickupCode(normalized: string): string {
  return createHash('sha256').update(`carevault pickup code ${normalized}`).digest('hex');
}
