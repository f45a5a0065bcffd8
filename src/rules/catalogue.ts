/**
 * The record catalogue: the FHIR resource types a record holds, and everything carevault knows
 * about each one, in one table — the words people see, the element that names the record's
 * Patient, the search parameters and where their values come from, and what a one-line summary
 * shows. Adding a type is one entry here (the table's type makes a missing entry a compile error).
 * https://hl7.org/fhir/R4/resourcelist.html · https://hl7.org/fhir/R4/searchparameter-registry.html
 */
export const RECORD_TYPES = [
  'Patient',
  'Observation',
  'Condition',
  'MedicationStatement',
  'AllergyIntolerance',
  'Immunization',
  'Procedure',
  'DocumentReference',
  'DiagnosticReport',
  'Encounter',
  'Provenance',
] as const;

export type RecordType = (typeof RECORD_TYPES)[number];

/** Where a token search parameter's values come from: a CodeableConcept element (or a list of them), a Coding, or a code. */
export type TokenSource = { concept: string } | { coding: string } | { code: string };

/** A reference search parameter other than the patient: the element holding it and the types it may point at. */
type ReferenceSource = { path: string; targets: readonly RecordType[] };

export type TypeEntry = {
  /** What the type holds, as a person would say it ("your observations — vital signs and lab results"). */
  words: string;
  /** How to count it in a sentence: [one, many]. */
  nouns: readonly [string, string];
  /** The element naming the record's Patient; the Patient itself has none. */
  patientElement: 'subject' | 'patient' | undefined;
  /** Search parameters naming the patient (they must name the token's record). */
  patientParams: readonly string[];
  /** Token search parameters and where their values come from. */
  tokens: Readonly<Record<string, TokenSource>>;
  /**
   * Reference search parameters to other resources of the record (besides the patient ones), also
   * usable in `_include` and `_revinclude`.
   */
  references?: Readonly<Record<string, ReferenceSource>>;
  /** The elements giving the date the resource is about (the `date` parameter), first present wins; dotted for a Period's start. */
  date: readonly string[] | undefined;
  /** The elements that name one resource in a summary line, first present wins; `value` adds its value[x]. */
  summary: { name: readonly string[]; value: boolean };
};

const concept = (element: string): TokenSource => ({ concept: element });
const code = (element: string): TokenSource => ({ code: element });
const coding = (element: string): TokenSource => ({ coding: element });

export const CATALOGUE: Readonly<Record<RecordType, TypeEntry>> = {
  Patient: {
    words: 'your personal details — name, birth date and contact details',
    nouns: ['personal details record', 'personal details records'],
    patientElement: undefined,
    patientParams: [],
    tokens: {},
    date: undefined,
    summary: { name: [], value: false },
  },
  Observation: {
    words: 'your observations — vital signs and lab results',
    nouns: ['observation', 'observations'],
    patientElement: 'subject',
    patientParams: ['patient', 'subject'],
    tokens: { code: concept('code'), category: concept('category'), status: code('status') },
    references: { encounter: { path: 'encounter', targets: ['Encounter'] } },
    date: ['effectiveDateTime', 'effectivePeriod.start', 'effectiveInstant', 'issued'],
    summary: { name: ['code'], value: true },
  },
  Condition: {
    words: 'your conditions — health problems and diagnoses',
    nouns: ['condition', 'conditions'],
    patientElement: 'subject',
    patientParams: ['patient', 'subject'],
    tokens: {
      code: concept('code'),
      category: concept('category'),
      'clinical-status': concept('clinicalStatus'),
      'verification-status': concept('verificationStatus'),
    },
    date: ['onsetDateTime', 'onsetPeriod.start', 'recordedDate'],
    summary: { name: ['code'], value: false },
  },
  MedicationStatement: {
    words: 'your medicines list',
    nouns: ['medicine', 'medicines'],
    patientElement: 'subject',
    patientParams: ['patient', 'subject'],
    tokens: { code: concept('medicationCodeableConcept'), status: code('status') },
    date: ['effectiveDateTime', 'effectivePeriod.start', 'dateAsserted'],
    summary: { name: ['medicationCodeableConcept'], value: false },
  },
  AllergyIntolerance: {
    words: 'your allergies and intolerances',
    nouns: ['allergy', 'allergies'],
    patientElement: 'patient',
    patientParams: ['patient'],
    tokens: { code: concept('code'), 'clinical-status': concept('clinicalStatus'), 'verification-status': concept('verificationStatus') },
    date: ['recordedDate', 'onsetDateTime'],
    summary: { name: ['code'], value: false },
  },
  Immunization: {
    words: 'your immunizations — the vaccines you have had',
    nouns: ['immunization', 'immunizations'],
    patientElement: 'patient',
    patientParams: ['patient'],
    tokens: { 'vaccine-code': concept('vaccineCode'), status: code('status') },
    date: ['occurrenceDateTime'],
    summary: { name: ['vaccineCode'], value: false },
  },
  Procedure: {
    words: 'your procedures — operations and treatments',
    nouns: ['procedure', 'procedures'],
    patientElement: 'subject',
    patientParams: ['patient', 'subject'],
    tokens: { code: concept('code'), status: code('status') },
    date: ['performedDateTime', 'performedPeriod.start'],
    summary: { name: ['code'], value: false },
  },
  DocumentReference: {
    words: 'your documents — clinical notes and files',
    nouns: ['document', 'documents'],
    patientElement: 'subject',
    patientParams: ['patient', 'subject'],
    tokens: { type: concept('type'), category: concept('category'), status: code('status') },
    date: ['date'],
    // Its own words first (a file's name and who sent it), then the kind of document.
    summary: { name: ['description', 'type'], value: false },
  },
  DiagnosticReport: {
    words: 'your test reports — lab panels and the results they group',
    nouns: ['test report', 'test reports'],
    patientElement: 'subject',
    patientParams: ['patient', 'subject'],
    tokens: { code: concept('code'), category: concept('category'), status: code('status') },
    references: { result: { path: 'result', targets: ['Observation'] }, encounter: { path: 'encounter', targets: ['Encounter'] } },
    date: ['effectiveDateTime', 'effectivePeriod.start', 'issued'],
    summary: { name: ['code'], value: false },
  },
  Encounter: {
    words: 'your visits — appointments and hospital stays',
    nouns: ['visit', 'visits'],
    patientElement: 'subject',
    patientParams: ['patient', 'subject'],
    tokens: { class: coding('class'), type: concept('type'), status: code('status') },
    date: ['period.start'],
    summary: { name: ['type', 'serviceType', 'class'], value: false },
  },
  // Where items came from: one per clinical document read into the record, targeting every item made
  // from it. It names the record through its targets, so it has no patient element of its own.
  Provenance: {
    words: 'where your items came from — the documents they were read from',
    nouns: ['source note', 'source notes'],
    patientElement: undefined,
    patientParams: [],
    tokens: {},
    references: {
      target: {
        path: 'target',
        // Every item a document can become: each type but the record's Patient and Provenance itself.
        targets: RECORD_TYPES.filter((type) => type !== 'Patient' && type !== 'Provenance'),
      },
      entity: { path: 'entity.what', targets: ['DocumentReference'] },
    },
    date: ['recorded'],
    summary: { name: ['activity'], value: false },
  },
};

/** What `*` (every type) holds, in the same words. */
export const ALL_TYPES_WORDS = 'your whole health record';

export function isRecordType(value: string): value is RecordType {
  return (RECORD_TYPES as readonly string[]).includes(value);
}

/** "3 observations", "1 medicine". */
export function countOf(type: RecordType, count: number): string {
  const [one, many] = CATALOGUE[type].nouns;
  return `${count} ${count === 1 ? one : many}`;
}
