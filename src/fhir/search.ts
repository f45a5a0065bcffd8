/**
 * FHIR search parameters carevault supports, parsed into criteria the store turns into SQL.
 * Unknown parameters are ignored (and left out of the Bundle's self link), unless the client asks
 * `Prefer: handling=strict`; `_format` is content negotiation (formats.ts), never a criterion. https://hl7.org/fhir/R4/search.html
 */
import { CATALOGUE, type RecordType } from '../rules/catalogue';
import { isCleanText } from '../security/storable-text';
import { InvalidResource } from './errors';

export type DateComparison = { prefix: 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb'; start: Date; end: Date };

export type SearchCriteria = {
  ids: string[][];
  /** Each inner list is one parameter: any of its values may match (OR); all lists must (AND). */
  tokens: string[][];
  dates: DateComparison[];
  lastUpdated: DateComparison[];
  /** `patient`/`subject` values; they must name the token's record or nothing matches. */
  patients: string[];
  count: number;
  /** Keyset cursor: only resources after this sequence number. */
  after: number | undefined;
  /** The parameters used, for the Bundle's links. */
  used: [string, string][];
};

/** Search parameters by name, as a query string or a search form parses them (a repeated name gives a list). */
export type SearchQuery = Record<string, unknown>;

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 100;

/** The search parameters of a type, for the CapabilityStatement. */
export function searchParamsOf(type: RecordType): { name: string; type: 'token' | 'date' | 'reference' }[] {
  return [
    { name: '_id', type: 'token' },
    { name: '_lastUpdated', type: 'date' },
    ...Object.keys(CATALOGUE[type].tokens).map((name) => ({ name, type: 'token' as const })),
    ...(CATALOGUE[type].date ? [{ name: 'date', type: 'date' as const }] : []),
    ...CATALOGUE[type].patientParams.map((name) => ({ name, type: 'reference' as const })),
  ];
}

const DATE_VALUE = /^(eq|ne|gt|lt|ge|le|sa|eb)?(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** A FHIR date search value as the range its precision covers. */
export function parseDate(param: string, raw: string): DateComparison {
  const match = DATE_VALUE.exec(raw);
  if (!match) throw new InvalidResource(`${param}=${raw} is not a FHIR date, like 2024-05-01 or ge2024-05-01T10:00:00Z.`);
  const [, prefix = 'eq', year, month, day, hour, minute, second, zone] = match;
  const y = Number(year);
  const start = (mo: number, d: number, h: number, mi: number, s: number) =>
    new Date(`${String(y).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}T${String(h).padStart(2, '0')}:${String(mi).padStart(2, '0')}:${String(s).padStart(2, '0')}${zone ?? 'Z'}`);
  let from: Date;
  let to: Date;
  if (!month) {
    from = start(1, 1, 0, 0, 0);
    to = new Date(Date.UTC(y + 1, 0, 1));
  } else if (!day) {
    from = start(Number(month), 1, 0, 0, 0);
    to = new Date(Date.UTC(y, Number(month), 1));
  } else if (!hour) {
    from = start(Number(month), Number(day), 0, 0, 0);
    to = new Date(from.getTime() + 86_400_000);
  } else {
    from = start(Number(month), Number(day), Number(hour), Number(minute), Number(second ?? 0));
    to = new Date(from.getTime() + (second ? 1_000 : 60_000));
  }
  // Date rolls 2024-02-30 over to March: a date that does not survive the round trip is not real.
  const real = !month || !day || new Date(Date.UTC(y, Number(month) - 1, Number(day))).getUTCDate() === Number(day);
  if (Number.isNaN(from.getTime()) || !real || Number(month ?? 1) > 12) throw new InvalidResource(`${param}=${raw} is not a real date.`);
  return { prefix: prefix as DateComparison['prefix'], start: from, end: to };
}

function values(raw: string): string[] {
  return raw.split(',').map((value) => value.trim()).filter(Boolean);
}

/**
 * Parses a search query for `type`.
 * @param strict `Prefer: handling=strict`: unknown parameters are an error.
 */
export function parseSearch(type: RecordType, query: SearchQuery, strict: boolean): SearchCriteria {
  const entry = CATALOGUE[type];
  const criteria: SearchCriteria = { ids: [], tokens: [], dates: [], lastUpdated: [], patients: [], count: DEFAULT_COUNT, after: undefined, used: [] };
  for (const [name, rawValue] of Object.entries(query)) {
    for (const raw of Array.isArray(rawValue) ? rawValue : [rawValue]) {
      if (typeof raw !== 'string') continue;
      if (!isCleanText(raw) || !isCleanText(name)) throw new InvalidResource(`The search parameter ${name} holds characters that are not allowed.`);
      if (name === '_count') {
        const count = Number(raw);
        if (!Number.isInteger(count) || count < 0) throw new InvalidResource(`_count must be a whole number, at most ${MAX_COUNT}.`);
        criteria.count = Math.min(count, MAX_COUNT);
      } else if (name === '_cursor') {
        const after = Number(raw);
        if (!Number.isSafeInteger(after) || after < 0) throw new InvalidResource('The page link is not valid; start the search again.');
        criteria.after = after;
        continue;
      } else if (name === '_format') {
        // Content negotiation, checked before the search (formats.ts); not a criterion.
        continue;
      } else if (name === '_id') {
        criteria.ids.push(values(raw));
      } else if (name === '_lastUpdated') {
        criteria.lastUpdated.push(parseDate(name, raw));
      } else if (name === 'date' && entry.date) {
        criteria.dates.push(parseDate(name, raw));
      } else if (Object.hasOwn(entry.tokens, name)) {
        criteria.tokens.push(values(raw).map((value) => `${name}:${value}`));
      } else if (entry.patientParams.includes(name)) {
        criteria.patients.push(...values(raw).map((value) => value.replace(/^.*Patient\//, '')));
      } else if (strict) {
        throw new InvalidResource(`carevault does not support the search parameter ${name} on ${type}.`);
      } else {
        continue;
      }
      criteria.used.push([name, raw]);
    }
  }
  return criteria;
}
