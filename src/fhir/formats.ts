/**
 * FHIR content negotiation: carevault speaks FHIR JSON only. A `_format` parameter or an Accept
 * header that JSON cannot satisfy (XML, Turtle, HTML) is answered 406 Not Acceptable, never with
 * JSON the client did not ask for; the JSON spellings of `_format` are all accepted.
 * https://hl7.org/fhir/R4/http.html#mime · https://hl7.org/fhir/R4/http.html#parameters
 */

/** `_format` values meaning FHIR JSON (the last is the DSTU2 type, still sent by older clients). */
const JSON_FORMATS: ReadonlySet<string> = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);

/** Media ranges in an Accept header that FHIR JSON satisfies. */
const JSON_RANGES: ReadonlySet<string> = new Set(['*/*', 'application/*', 'application/json', 'application/fhir+json', 'application/json+fhir']);

/** The FHIR version carevault serves, as the `fhirVersion` MIME parameter names it (http.html#version-parameter). */
const FHIR_VERSION = /^4\.0(\.\d+)?$/;

type MediaRange = { type: string; params: Map<string, string> };

function parseMediaRange(text: string): MediaRange {
  const [type = '', ...rest] = text.split(';').map((part) => part.trim());
  const params = new Map<string, string>();
  for (const param of rest) {
    const eq = param.indexOf('=');
    if (eq > 0)
      params.set(
        param.slice(0, eq).trim().toLowerCase(),
        param
          .slice(eq + 1)
          .trim()
          .replace(/^"(.*)"$/, '$1'),
      );
  }
  return { type: type.toLowerCase(), params };
}

function isOurVersion(range: MediaRange): boolean {
  const version = range.params.get('fhirversion');
  return version === undefined || FHIR_VERSION.test(version);
}

/** Whether an Accept header lets carevault answer FHIR JSON (no header, or an empty one, does). */
function acceptsFhirJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return accept.split(',').some((item) => {
    const range = parseMediaRange(item);
    const q = range.params.get('q');
    if (q !== undefined && !(Number(q) > 0)) return false;
    return JSON_RANGES.has(range.type) && isOurVersion(range);
  });
}

/**
 * Why the request's `_format` and Accept cannot be served, as a sentence; `undefined` when FHIR
 * JSON is what the client asked for (or it did not say). `_format` overrides Accept (http.html).
 */
export function formatRefusal(format: unknown, accept: string | undefined): string | undefined {
  if (format !== undefined) {
    const values = Array.isArray(format) ? format : [format];
    const json = values.every((value) => {
      if (typeof value !== 'string') return false;
      const range = parseMediaRange(value);
      return JSON_FORMATS.has(range.type) && isOurVersion(range);
    });
    if (json) return undefined;
    return 'carevault answers FHIR R4 JSON only: _format must be json (or application/fhir+json), or be left out.';
  }
  if (acceptsFhirJson(accept)) return undefined;
  return 'carevault answers FHIR R4 JSON only (application/fhir+json), which the Accept header does not allow.';
}
