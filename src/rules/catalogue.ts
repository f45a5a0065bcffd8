/**
 * The record catalogue: the FHIR resource types a record holds, with the words people see.
 * https://hl7.org/fhir/R4/resourcelist.html
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
] as const;

export type RecordType = (typeof RECORD_TYPES)[number];

/** What a type holds, as a person would say it ("your observations — vital signs and lab results"). */
export const TYPE_WORDS: Readonly<Record<RecordType | '*', string>> = {
  '*': 'your whole health record',
  Patient: 'your personal details — name, birth date and contact details',
  Observation: 'your observations — vital signs and lab results',
  Condition: 'your conditions — health problems and diagnoses',
  MedicationStatement: 'your medicines list',
  AllergyIntolerance: 'your allergies and intolerances',
  Immunization: 'your immunizations — the vaccines you have had',
  Procedure: 'your procedures — operations and treatments',
  DocumentReference: 'your documents — clinical notes and files',
};

export function isRecordType(value: string): value is RecordType {
  return (RECORD_TYPES as readonly string[]).includes(value);
}

/** How to count resources of a type in a sentence: [one, many]. */
export const TYPE_NOUNS: Readonly<Record<RecordType, readonly [string, string]>> = {
  Patient: ['personal details record', 'personal details records'],
  Observation: ['observation', 'observations'],
  Condition: ['condition', 'conditions'],
  MedicationStatement: ['medicine', 'medicines'],
  AllergyIntolerance: ['allergy', 'allergies'],
  Immunization: ['immunization', 'immunizations'],
  Procedure: ['procedure', 'procedures'],
  DocumentReference: ['document', 'documents'],
};

export function countOf(type: RecordType, count: number): string {
  const [one, many] = TYPE_NOUNS[type];
  return `${count} ${count === 1 ? one : many}`;
}
