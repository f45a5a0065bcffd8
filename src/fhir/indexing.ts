/**
 * What a resource is searched by, computed on write from the catalogue's entry for its type, so
 * search is plain indexed SQL: the date it is about, and its token values in every form FHIR token
 * search accepts — `code` (any system), `system|code`, `|code` (no system) and `system|` (any code
 * in the system). https://hl7.org/fhir/R4/search.html#token
 */
import { CATALOGUE, isRecordType, type TokenSource } from '../rules/catalogue';

type Json = Record<string, unknown>;

/** `value` as a JSON object, or undefined for anything else (arrays and null included). */
export function asObject(value: unknown): Json | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

function asArray(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  return value === undefined ? [] : [value];
}

/**
 * The value at a dotted element path (`effectivePeriod.start`); through a list, the values of each
 * of its elements (`entity.what`: every entity's `what`).
 */
function elementAt(resource: Json, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((value, key) => (Array.isArray(value) ? value.flatMap((item) => asArray(asObject(item)?.[key])) : asObject(value)?.[key]), resource);
}

function codings(concept: unknown): { system?: string; code?: string }[] {
  return asArray(asObject(concept)?.coding)
    .map(asObject)
    .filter((coding): coding is Json => coding !== undefined)
    .map((coding) => ({
      system: typeof coding.system === 'string' ? coding.system : undefined,
      code: typeof coding.code === 'string' ? coding.code : undefined,
    }));
}

function tokenForms(param: string, system: string | undefined, code: string | undefined): string[] {
  const forms: string[] = [];
  if (code) forms.push(`${param}:${code}`, `${param}:${system ?? ''}|${code}`);
  if (system) forms.push(`${param}:${system}|`);
  return forms;
}

function tokensOf(param: string, source: TokenSource, resource: Json): string[] {
  if ('code' in source) {
    const value = resource[source.code];
    return typeof value === 'string' ? tokenForms(param, undefined, value) : [];
  }
  if ('coding' in source) {
    return asArray(resource[source.coding])
      .map(asObject)
      .flatMap((c) => (c ? tokenForms(param, typeof c.system === 'string' ? c.system : undefined, typeof c.code === 'string' ? c.code : undefined) : []));
  }
  return asArray(resource[source.concept]).flatMap((concept) => codings(concept).flatMap(({ system, code }) => tokenForms(param, system, code)));
}

/** `Observation/123` from a relative or absolute literal reference; undefined for anything else. */
export function relativeReference(reference: unknown): string | undefined {
  if (typeof reference !== 'string') return undefined;
  const match = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference);
  return match ? `${match[1]}/${match[2]}` : undefined;
}

/** The `Type/id` references a resource holds at `path` (one Reference or a list of them). */
export function referencesAt(resource: Json, path: string): string[] {
  return asArray(elementAt(resource, path))
    .map((value) => relativeReference(asObject(value)?.reference))
    .filter((value): value is string => value !== undefined);
}

/** Reference search values, as tokens: `result:Observation/123` and `result:123`. */
function referenceTokens(param: string, path: string, resource: Json): string[] {
  return referencesAt(resource, path).flatMap((reference) => [`${param}:${reference}`, `${param}:${reference.split('/')[1]}`]);
}

/** A FHIR date, dateTime or instant as the moment it starts (`2024` → 1 Jan 2024). */
function parseFhirDate(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const date = new Date(value.length === 4 ? `${value}-01-01` : value.length === 7 ? `${value}-01` : value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** The date a resource is about: the first of its type's date elements that holds one. */
export function dateOf(resource: Json): Date | undefined {
  const type = String(resource.resourceType);
  if (!isRecordType(type)) return undefined;
  for (const path of CATALOGUE[type].date ?? []) {
    const date = parseFhirDate(elementAt(resource, path));
    if (date) return date;
  }
  return undefined;
}

/** Search index values for a resource of one of the catalogue types. */
export function indexResource(resource: Json): { searchDate: Date | undefined; searchTokens: string[] } {
  const type = String(resource.resourceType);
  if (!isRecordType(type)) return { searchDate: undefined, searchTokens: [] };
  const entry = CATALOGUE[type];
  const searchTokens = [
    ...Object.entries(entry.tokens).flatMap(([param, source]) => tokensOf(param, source, resource)),
    ...Object.entries(entry.references ?? {}).flatMap(([param, source]) => referenceTokens(param, source.path, resource)),
  ];
  return { searchDate: dateOf(resource), searchTokens };
}
