/**
 * Direct addresses: `<name>@<DIRECT_DOMAIN>`, the name made from the record's
 * person's name, folded to ASCII — "Zoë Ångström" → `zoe.angstrom`; the second Sam Lee gets
 * `sam.lee2`. Pure functions; the address book (address-book.ts) gives and keeps them.
 */
import slugify from 'slugify';

/** RFC 5321 §4.5.3.1.1: a local part is at most 64 octets; room is kept for a number. */
const MAX_BASE = 58;

/** Used when a name has no letters that fold to ASCII (e.g. 李明). */
const FALLBACK = 'record';

/** The local part every candidate for `name` starts from: lower-case ASCII words joined by dots. */
export function localPartBase(name: string): string {
  // Decomposing first folds letters slugify's table lacks (Ṭ → T); apostrophes join (O'Brien →
  // obrien); any other symbol separates words (slugify would spell some out: < as "less").
  const decomposed = name
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/['’ʼ]/g, '')
    .replace(/[^\p{L}\p{N}]+/gu, ' ');
  const slug = slugify(decomposed, { lower: true, strict: true, replacement: '.', trim: true });
  const base = slug
    .replace(/\.{2,}/g, '.')
    .slice(0, MAX_BASE)
    .replace(/^\.+|\.+$/g, '');
  return base || FALLBACK;
}

/** The `n`th candidate: `sam.lee`, `sam.lee2`, `sam.lee3`… (`room.101.2` when the base ends in a digit). */
export function candidate(base: string, n: number): string {
  if (n <= 1) return base;
  return /\d$/.test(base) ? `${base}.${n}` : `${base}${n}`;
}

/** The smallest candidate number not among `taken` local parts. */
export function firstFree(base: string, taken: ReadonlySet<string>): number {
  let n = 1;
  while (taken.has(candidate(base, n))) n += 1;
  return n;
}

export function formatAddress(localPart: string, domain: string): string {
  return `${localPart}@${domain}`;
}

/**
 * The local part of `address` when it is an address at `domain` shaped like the ones carevault
 * gives (case-insensitive); `undefined` for anything else.
 */
export function localPartOf(address: string, domain: string): string | undefined {
  const trimmed = address.trim().toLowerCase();
  const at = trimmed.lastIndexOf('@');
  if (at <= 0 || trimmed.slice(at + 1) !== domain.toLowerCase()) return undefined;
  const local = trimmed.slice(0, at);
  return /^[a-z0-9]+(\.[a-z0-9]+)*$/.test(local) && local.length <= 64 ? local : undefined;
}
