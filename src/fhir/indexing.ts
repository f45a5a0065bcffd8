/**
 * What a resource is searched by: the date it is about and its token values, computed on write so
 * search is plain indexed SQL. Token values are stored in every form FHIR token search accepts:
 * `code` (any system), `system|code`, `|code` (no system) and `system|` (any code in the system).
 * https://hl7.org/fhir/R4/search.html#token
 */
type Json = Record<string, unknown>;

function asObject(value: unknown): Json | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

function asArray(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  return value === undefined ? [] : [value];
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

function conceptTokens(param: string, concepts: unknown): string[] {
  return asArray(concepts).flatMap((concept) => codings(concept).flatMap(({ system, code }) => tokenForms(param, system, code)));
}

function codeTokens(param: string, value: unknown): string[] {
  return typeof value === 'string' ? tokenForms(param, undefined, value) : [];
}

function firstDate(...values: unknown[]): Date | undefined {
  for (const value of values) {
    if (typeof value !== 'string') continue;
    const date = new Date(value.length === 4 ? `${value}-01-01` : value.length === 7 ? `${value}-01` : value);
    if (!Number.isNaN(date.getTime())) return date;
  }
  return undefined;
}

/** Search index values for a resource of one of the catalogue types. */
export function indexResource(resource: Json): { searchDate: Date | undefined; searchTokens: string[] } {
  const period = (key: string) => asObject(resource[key])?.start;
  switch (resource.resourceType) {
    case 'Observation':
      return {
        searchDate: firstDate(resource.effectiveDateTime, period('effectivePeriod'), resource.effectiveInstant, resource.issued),
        searchTokens: [...conceptTokens('code', resource.code), ...conceptTokens('category', resource.category), ...codeTokens('status', resource.status)],
      };
    case 'Condition':
      return {
        searchDate: firstDate(resource.onsetDateTime, period('onsetPeriod'), resource.recordedDate),
        searchTokens: [
          ...conceptTokens('code', resource.code),
          ...conceptTokens('category', resource.category),
          ...conceptTokens('clinical-status', resource.clinicalStatus),
          ...conceptTokens('verification-status', resource.verificationStatus),
        ],
      };
    case 'AllergyIntolerance':
      return {
        searchDate: firstDate(resource.recordedDate, resource.onsetDateTime),
        searchTokens: [
          ...conceptTokens('code', resource.code),
          ...conceptTokens('clinical-status', resource.clinicalStatus),
          ...conceptTokens('verification-status', resource.verificationStatus),
        ],
      };
    case 'MedicationStatement':
      return {
        searchDate: firstDate(resource.effectiveDateTime, period('effectivePeriod'), resource.dateAsserted),
        searchTokens: [...conceptTokens('code', resource.medicationCodeableConcept), ...codeTokens('status', resource.status)],
      };
    case 'Immunization':
      return {
        searchDate: firstDate(resource.occurrenceDateTime),
        searchTokens: [...conceptTokens('vaccine-code', resource.vaccineCode), ...codeTokens('status', resource.status)],
      };
    case 'Procedure':
      return {
        searchDate: firstDate(resource.performedDateTime, period('performedPeriod')),
        searchTokens: [...conceptTokens('code', resource.code), ...codeTokens('status', resource.status)],
      };
    case 'DocumentReference':
      return {
        searchDate: firstDate(resource.date),
        searchTokens: [...conceptTokens('type', resource.type), ...conceptTokens('category', resource.category), ...codeTokens('status', resource.status)],
      };
    default:
      return { searchDate: undefined, searchTokens: [] };
  }
}
