/**
 * The regular-expression engine Ajv uses for the FHIR R4 schema's primitive patterns
 * (https://hl7.org/fhir/R4/datatypes.html#primitive). V8 runs a pattern with a repeated group —
 * `code`'s `^[^\s]+(\s[^\s]+)*$`, `oid`'s `(\.(0|[1-9][0-9]*))+` — with a backtracking stack that
 * grows per repetition, so a multi-megabyte value (an attachment's worth of words) throws
 * "Maximum call stack size exceeded" out of validation. For long values the patterns that can
 * do this are checked by equivalent linear code instead; any other pattern that still overflows
 * counts as not matching (a value that long is not a valid date, id or number anyway).
 */
import type { RegExpEngine, RegExpLike } from 'ajv/dist/types';

/** Longer values skip the native expression for the patterns below. */
const LONG = 10_000;

/** Linear equivalents of the schema's patterns, by the pattern's source text. */
const LINEAR: ReadonlyMap<string, (value: string) => boolean> = new Map([
  // code: words of non-space characters separated by single whitespace characters.
  ['^[^\\s]+(\\s[^\\s]+)*$', (value: string) => value.length > 0 && !/^\s|\s$|\s\s/u.test(value)],
  // string, markdown: at least one character, none but space, CR, LF and tab among whitespace.
  ['^[ \\r\\n\\t\\S]+$', (value: string) => value.length > 0 && !/[^ \r\n\t\S]/u.test(value)],
  // uri, url, canonical: no whitespace.
  ['^\\S*$', (value: string) => !/\s/u.test(value)],
  // oid: urn:oid: then dot-separated numbers without leading zeros, the first 0–2.
  [
    '^urn:oid:[0-2](\\.(0|[1-9][0-9]*))+$',
    (value: string) => {
      if (!/^urn:oid:[0-2]\./.test(value)) return false;
      return value
        .slice('urn:oid:0.'.length)
        .split('.')
        .every((part) => /^(0|[1-9][0-9]*)$/.test(part));
    },
  ],
]);

function isStackOverflow(error: unknown): boolean {
  return (error as { name?: unknown })?.name === 'RangeError';
}

export const fhirPatternEngine: RegExpEngine = Object.assign(
  (pattern: string, flags: string): RegExpLike => {
    const native = new RegExp(pattern, flags);
    const linear = LINEAR.get(pattern);
    const engine: RegExpLike & { toString(): string } = {
      // Ajv keys its compiled patterns by this text.
      toString: () => native.toString(),
      test(value: string): boolean {
        if (linear && value.length > LONG) return linear(value);
        try {
          return native.test(value);
        } catch (error) {
          if (!isStackOverflow(error)) throw error;
          return linear ? linear(value) : false;
        }
      },
    };
    return engine;
  },
  { code: 'fhirPatternEngine' },
);
