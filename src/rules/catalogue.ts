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
