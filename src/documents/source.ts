/**
 * What carevault reads from the parsed C-CDA itself (the object fast-xml-parser made, attributes
 * as `@_name`): the header (title, date, who made it), whether it is a C-CDA document at all, how
 * many entries it holds, and every problem of each problem concern — the converter keeps only the
 * first. Code systems by OID become FHIR's URIs; CDA timestamps become FHIR dateTimes.
 * https://hl7.org/cda/us/ccda/StructureDefinition-ProblemConcernAct.html
 */
type Json = Record<string, unknown>;

const C_CDA_DOCUMENT_TEMPLATE = '2.16.840.1.113883.10.20.22.1.';
/** Problem sections, and the admission and discharge diagnosis sections of a discharge summary. */
const PROBLEM_SECTIONS = [
  '2.16.840.1.113883.10.20.22.2.5',
  '2.16.840.1.113883.10.20.22.2.5.1',
  '2.16.840.1.113883.10.20.22.2.24',
  '2.16.840.1.113883.10.20.22.2.43',
];
/** Problem concerns, and hospital discharge and admission diagnosis acts: each wraps problem observations. */
const PROBLEM_CONCERNS = ['2.16.840.1.113883.10.20.22.4.3', '2.16.840.1.113883.10.20.22.4.33', '2.16.840.1.113883.10.20.22.4.34'];
const PROBLEM_OBSERVATION = '2.16.840.1.113883.10.20.22.4.4';

/** FHIR's URI for each code system OID a C-CDA uses for the items carevault keeps. */
const SYSTEMS: Readonly<Record<string, string>> = {
  '2.16.840.1.113883.6.96': 'http://snomed.info/sct',
  '2.16.840.1.113883.6.1': 'http://loinc.org',
  '2.16.840.1.113883.6.88': 'http://www.nlm.nih.gov/research/umls/rxnorm',
  '2.16.840.1.113883.12.292': 'http://hl7.org/fhir/sid/cvx',
  '2.16.840.1.113883.6.90': 'http://hl7.org/fhir/sid/icd-10-cm',
  '2.16.840.1.113883.6.3': 'http://hl7.org/fhir/sid/icd-10',
  '2.16.840.1.113883.6.103': 'http://hl7.org/fhir/sid/icd-9-cm',
  '2.16.840.1.113883.6.12': 'http://www.ama-assn.org/go/cpt',
};

const list = (value: unknown): Json[] => (Array.isArray(value) ? (value as Json[]) : value && typeof value === 'object' ? [value as Json] : []);
const attribute = (node: unknown, name: string): string | undefined => {
  const value = node && typeof node === 'object' ? (node as Json)[`@_${name}`] : undefined;
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
};
const textOf = (node: unknown): string | undefined => {
  if (typeof node === 'string') return node.trim() || undefined;
  if (node && typeof node === 'object' && typeof (node as Json)['#text'] === 'string') return ((node as Json)['#text'] as string).trim() || undefined;
  return undefined;
};
const hasTemplate = (node: Json, roots: readonly string[]) => list(node.templateId).some((template) => roots.includes(attribute(template, 'root') ?? ''));

/** FHIR's system URI for a code system OID (`urn:oid:` for one carevault has no name for). */
export function systemOf(oid: string | undefined): string | undefined {
  return oid ? (SYSTEMS[oid] ?? `urn:oid:${oid}`) : undefined;
}

/**
 * A CDA timestamp (`20240312`, `202403121030-0500`, `20240312103000.000+0100`) as a FHIR dateTime:
 * a time only with its zone (FHIR demands one), otherwise the day; `undefined` when unreadable.
 */
function fhirDateTime(value: string | undefined): string | undefined {
  const match = value ? /^(\d{4})(\d{2})?(\d{2})?(?:(\d{2})(\d{2})(\d{2})?(?:\.\d+)?)?([+-]\d{4}|Z)?$/.exec(value) : null;
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second, zone] = match;
  if (month && (Number(month) < 1 || Number(month) > 12)) return undefined;
  if (day && (Number(day) < 1 || Number(day) > 31)) return undefined;
  const date = [year, month, day].filter(Boolean).join('-');
  if (!hour || !minute || !zone || !day) return date;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second ?? '0') > 59) return date;
  const offset = zone === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  return `${date}T${hour}:${minute}:${second ?? '00'}${offset}`;
}

type Concept = { coding: { system: string; code: string; display?: string }[]; text?: string };

/** A CD/CE element as a CodeableConcept, or `undefined` when it carries no code. */
function conceptOf(node: unknown): Concept | undefined {
  const code = attribute(node, 'code');
  const system = systemOf(attribute(node, 'codeSystem'));
  if (!code || !system) return undefined;
  const display = attribute(node, 'displayName');
  return { coding: [{ system, code, ...(display ? { display } : {}) }], ...(display ? { text: display } : {}) };
}

export type DocumentHeader = { title: string; date: string | undefined; madeBy: string | undefined };

export function isCcda(document: Json): boolean {
  return list(document.templateId).some((template) => (attribute(template, 'root') ?? '').startsWith(C_CDA_DOCUMENT_TEMPLATE));
}

/** The document's title, date and the organization that made or keeps it. */
export function documentHeader(document: Json): DocumentHeader {
  const author = list(document.author)[0];
  const assigned = author?.assignedAuthor as Json | undefined;
  const custodian = ((document.custodian as Json | undefined)?.assignedCustodian as Json | undefined)?.representedCustodianOrganization as Json | undefined;
  const organization = textOf(list((assigned?.representedOrganization as Json | undefined)?.name)[0]) ?? textOf(list(custodian?.name)[0]);
  return {
    title: textOf(document.title) ?? 'Clinical document',
    date: fhirDateTime(attribute(list(document.effectiveTime)[0], 'value')),
    madeBy: organization,
  };
}

function sectionsOf(document: Json): Json[] {
  const body = (document.component as Json | undefined)?.structuredBody as Json | undefined;
  return list(body?.component).flatMap((component) => list(component.section));
}

/** How many entries the document's sections hold. */
export function entryCount(document: Json): number {
  return sectionsOf(document).reduce((sum, section) => sum + list(section.entry).length, 0);
}

/** A problem as the source states it, for the Conditions the converter leaves out. */
export type SourceProblem = { code: Concept; onset: string | undefined; abatement: string | undefined; active: boolean };

/** Every problem observation of every problem concern (and diagnosis act), in order, each concern's first included. */
export function concernProblems(document: Json): SourceProblem[] {
  return sectionsOf(document)
    .filter((section) => hasTemplate(section, PROBLEM_SECTIONS))
    .flatMap((section) => list(section.entry).flatMap((entry) => list(entry.act)))
    .filter((act) => hasTemplate(act, PROBLEM_CONCERNS))
    .flatMap((act) =>
      list(act.entryRelationship)
        .flatMap((relationship) => list(relationship.observation))
        .filter((observation) => hasTemplate(observation, [PROBLEM_OBSERVATION]))
        .flatMap((observation) => {
          const code = conceptOf(Array.isArray(observation.value) ? observation.value[0] : observation.value);
          if (!code) return [];
          const time = list(observation.effectiveTime)[0];
          const abatement = fhirDateTime(attribute(time?.high, 'value'));
          return [
            {
              code,
              onset: fhirDateTime(attribute(time?.low, 'value') ?? attribute(time, 'value')),
              abatement,
              active: abatement === undefined && attribute(act.statusCode, 'code') !== 'completed',
            },
          ];
        }),
    );
}
