/**
 * Secret answers (HealthVault's secret question, for connect requests and packages): compared
 * trimmed, case-folded, with inner spaces collapsed, and kept only as argon2id hashes.
 */
import { hashSecret, verifySecret } from './secrets';

/**
 * The form an answer is compared in (compared case-insensitively, trimmed): "  Blue
 * Whale " and "blue whale" are the same answer. NFKC first, so the same letters typed on another
 * keyboard (full-width, composed accents) compare equal.
 */
export function normalizeAnswer(answer: string): string {
  return answer.normalize('NFKC').trim().toLowerCase().replace(/\s+/g, ' ');
}

export function hashAnswer(answer: string): Promise<string> {
  return hashSecret(normalizeAnswer(answer));
}

export function answerMatches(hash: string, answer: string): Promise<boolean> {
  return verifySecret(hash, normalizeAnswer(answer));
}
