/**
 * `WWW-Authenticate` challenges, built one way (RFC 9110 §11.6.1 and §11.2): `Scheme k="v", …`,
 * every value made printable ASCII without `"` or `\`. Node refuses a header with a character
 * outside Latin-1 (and a control character anywhere), and an error text that put one there turned a
 * refusal into a failure: values here are safe by construction, whatever sentence they carry.
 */

/** Look-alikes of ASCII punctuation that sentences carry, and what they become. */
const LOOK_ALIKES: readonly [RegExp, string][] = [
  [/[\u2018\u2019\u201A\u201B\u2032\u00B4\u0060]/g, "'"],
  [/[\u201C\u201D\u201E\u201F\u2033\u00AB\u00BB"]/g, "'"],
  [/[\u2010-\u2015\u2212]/g, '-'],
  [/\\/g, '/'],
];

/** `text` as printable ASCII fit for a quoted-string: look-alikes mapped, accents dropped, the rest `?`. */
function asciiText(text: string): string {
  let out = text.normalize('NFKD').replace(/\p{M}/gu, '');
  for (const [pattern, replacement] of LOOK_ALIKES) out = out.replace(pattern, replacement);
  return out.replace(/\s+/gu, ' ').replace(/[^\x20-\x7E]/gu, '?');
}

/** One challenge: the scheme, then each parameter as a quoted string (an undefined one is left out). */
export function challenge(scheme: string, params: Readonly<Record<string, string | undefined>>): string {
  const parts = Object.entries(params).flatMap(([name, value]) => (value === undefined ? [] : [`${name}="${asciiText(value)}"`]));
  return parts.length ? `${scheme} ${parts.join(', ')}` : scheme;
}
