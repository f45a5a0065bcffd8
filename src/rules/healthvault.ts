/**
 * HealthVault's numbers, which carevault keeps for DOPU packages and Patient Connect requests: how
 * long an unused package or request lives, how many wrong answers lock it, how long a validated
 * request stays collectable, the shape of the codes people type, and the shortest secret answer.
 * Each number is written here once; every rule, page and message that uses one imports it.
 */

/** A package or connect request not used within this many days expires. */
export const UNUSED_DAYS = 28;

/** This many wrong answers to a package's or connect request's secret question lock it for good. */
export const WRONG_ANSWERS_TO_LOCK = 3;

/** A validated connect request stays collectable by its app for this many days. */
export const COLLECT_DAYS = 90;

/**
 * The letters of the codes people type (pickup codes, identity codes): the 20 consonants without
 * look-alikes of digits, so no code spells a word or is misread. oidc-provider's device flow draws
 * identity codes from the same 20 letters (its `charset: 'base-20'`).
 */
export const CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

/** A code is this many letters… */
export const CODE_LENGTH = 20;

/** …shown in groups of this many, joined by dashes. */
export const CODE_GROUP = 4;

/** How a code is shown, `*` for each letter: `****-****-****-****-****`. */
export const CODE_MASK = Array.from({ length: CODE_LENGTH / CODE_GROUP }, () => '*'.repeat(CODE_GROUP)).join('-');

/** A secret answer has at least this many characters, counted as answers are compared (trimmed). */
export const MIN_ANSWER_LENGTH = 6;

const DAY_MS = 24 * 3600 * 1000;

/** The moment `days` days after `from` end. */
export function daysAfter(from: Date, days: number): Date {
  return new Date(from.getTime() + days * DAY_MS);
}

/** `days` days in seconds (a time-to-live). */
export function daysInSeconds(days: number): number {
  return (days * DAY_MS) / 1000;
}
