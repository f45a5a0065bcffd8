/**
 * Small helpers for the sentences carevault shows people.
 */

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** "a", "a and b", "a, b and c". */
export function sentence(words: readonly string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

/**
 * Characters that change how a line of text shows without being seen themselves: controls (line
 * breaks and tabs included), line and paragraph separators, and format characters — bidirectional
 * overrides and isolates (U+202E shows "scan\u202Efdp.js" as "scansj.pdf"), zero-width spaces, the BOM.
 * The zero-width joiner and non-joiner stay: Persian, Indic scripts and emoji need them, and they
 * reorder nothing.
 */
const HIDDEN = /[\p{Cc}\p{Zl}\p{Zp}]|(?![\u200C\u200D])\p{Cf}/u;

/**
 * The first hidden character of `text` as "U+202E (a formatting character)", for a refusal that
 * names it; `undefined` when the text shows as it reads.
 */
export function hiddenCharacter(text: string): string | undefined {
  const found = HIDDEN.exec(text)?.[0];
  if (found === undefined) return undefined;
  const code = `U+${(found.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  const kind = /\p{Cc}/u.test(found) ? 'a control character' : /\p{Cf}/u.test(found) ? 'an invisible formatting character' : 'a line or paragraph separator';
  return `${code} (${kind})`;
}

/** The sentence a refusal of hidden characters ends with. */
export function hiddenCharacterRefusal(found: string): string {
  return `must be plain text on one line: it contains ${found}`;
}
