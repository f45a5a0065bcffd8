/**
 * Pickup codes: 20 letters shown as 5 groups of 4, `JKWZ-QNMN-VHRX-ZGNR-GZNH`, in HealthVault's
 * code shape (rules/healthvault.ts), so pickup codes and Patient Connect codes look alike. 20
 * letters of 20 give 86 bits from the CSPRNG: too many to guess, so a plain SHA-256 is enough to
 * store the code without keeping it.
 */
import { createHash, randomInt } from 'node:crypto';
import { CODE_ALPHABET, CODE_GROUP, CODE_LENGTH } from '../rules/healthvault';

const NORMALIZED = new RegExp(`^[${CODE_ALPHABET}]{${CODE_LENGTH}}$`);
const GROUPS = new RegExp(`.{1,${CODE_GROUP}}`, 'g');

/** A fresh code, normalized (20 capitals, no dashes). */
export function newPickupCode(): string {
  let code = '';
  for (let i = 0; i < CODE_LENGTH; i += 1) code += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return code;
}

/** `JKWZQNMN…` → `JKWZ-QNMN-VHRX-ZGNR-GZNH`, as people see and type it. */
export function formatPickupCode(code: string): string {
  return code.match(GROUPS)?.join('-') ?? code;
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
