/**
 * One resource of each catalogue type carrying a value for every search parameter the
 * CapabilityStatement advertises, and for each parameter a value that finds it and one that does
 * not. A parameter advertised without an entry here has no check, and the conformance walk fails.
 * https://hl7.org/fhir/R4/search.html
 */
import type { Json } from './world';

/** A resource of `type` in the record whose Patient is `recordId` (Patient itself is never created). */
export function sampleOf(type: string, recordId: string): Json | undefined {
  const patient = { reference: `Patient/${recordId}` };
  const concept = (system: string, code: string, display?: string) => ({ coding: [{ system, code, ...(display ? { display } : {}) }] });
  switch (type) {
    case 'Observation':
      return {
        resourceType: 'Observation',
        status: 'final',
        category: [concept('http://terminology.hl7.org/CodeSystem/observation-category', 'vital-signs')],
        code: concept('http://loinc.org', '29463-7', 'Body weight'),
        subject: patient,
        encounter: { reference: 'Encounter/sample-visit' },
        effectiveDateTime: '2026-03-01T08:00:00Z',
        valueQuantity: { value: 71.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
      };
    case 'Condition':
      return {
        resourceType: 'Condition',
        clinicalStatus: concept('http://terminology.hl7.org/CodeSystem/condition-clinical', 'active'),
        verificationStatus: concept('http://terminology.hl7.org/CodeSystem/condition-ver-status', 'confirmed'),
        category: [concept('http://terminology.hl7.org/CodeSystem/condition-category', 'problem-list-item')],
        code: concept('http://snomed.info/sct', '38341003', 'Hypertension'),
        subject: patient,
        onsetDateTime: '2019-03-05',
      };
    case 'MedicationStatement':
      return {
        resourceType: 'MedicationStatement',
        status: 'active',
        medicationCodeableConcept: concept('http://www.nlm.nih.gov/research/umls/rxnorm', '197361', 'Amlodipine 5 MG Oral Tablet'),
        subject: patient,
        effectiveDateTime: '2024-01-10',
      };
    case 'AllergyIntolerance':
      return {
        resourceType: 'AllergyIntolerance',
        clinicalStatus: concept('http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', 'active'),
        verificationStatus: concept('http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', 'confirmed'),
        code: concept('http://snomed.info/sct', '91936005', 'Allergy to penicillin'),
        patient,
        recordedDate: '2020-07-01',
      };
    case 'Immunization':
      return {
        resourceType: 'Immunization',
        status: 'completed',
        vaccineCode: concept('http://hl7.org/fhir/sid/cvx', '208'),
        patient,
        occurrenceDateTime: '2021-04-10',
      };
    case 'Procedure':
      return {
        resourceType: 'Procedure',
        status: 'completed',
        code: concept('http://snomed.info/sct', '80146002', 'Appendectomy'),
        subject: patient,
        performedDateTime: '2015-06-01T09:00:00Z',
      };
    case 'DocumentReference':
      return {
        resourceType: 'DocumentReference',
        status: 'current',
        type: concept('http://loinc.org', '34133-9', 'Summary of episode note'),
        category: [concept('http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category', 'clinical-note')],
        subject: patient,
        date: '2025-11-02T10:00:00Z',
        content: [{ attachment: { contentType: 'application/pdf', url: 'https://example.org/doc.pdf', title: 'Letter' } }],
      };
    case 'DiagnosticReport':
      return {
        resourceType: 'DiagnosticReport',
        status: 'final',
        category: [concept('http://terminology.hl7.org/CodeSystem/v2-0074', 'LAB')],
        code: concept('http://loinc.org', '24331-1', 'Lipid panel'),
        subject: patient,
        encounter: { reference: 'Encounter/sample-visit' },
        effectiveDateTime: '2026-02-10T09:00:00Z',
        result: [{ reference: 'Observation/sample-result' }],
      };
    case 'Encounter':
      return {
        resourceType: 'Encounter',
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        type: [concept('http://snomed.info/sct', '185349003', 'Check-up')],
        subject: patient,
        period: { start: '2026-02-10T08:30:00Z' },
      };
    case 'Provenance':
      return {
        resourceType: 'Provenance',
        target: [{ reference: 'Observation/sample-result' }],
        recorded: '2026-02-10T09:05:00Z',
        agent: [{ who: { display: 'Lakeside Family Clinic' } }],
        entity: [{ role: 'source', what: { reference: 'DocumentReference/sample-document' } }],
      };
    default:
      return undefined;
  }
}

export type SearchProbe = { match: string; miss: string };

/** Values of the token parameters, by `Type.parameter`: one the sample holds, one it does not. */
const TOKENS: Readonly<Record<string, SearchProbe>> = {
  'Observation.code': { match: 'http://loinc.org|29463-7', miss: 'http://loinc.org|8302-2' },
  'Observation.category': { match: 'vital-signs', miss: 'laboratory' },
  'Observation.status': { match: 'final', miss: 'amended' },
  'Condition.code': { match: '38341003', miss: '44054006' },
  'Condition.category': { match: 'http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item', miss: 'encounter-diagnosis' },
  'Condition.clinical-status': { match: 'active', miss: 'resolved' },
  'Condition.verification-status': { match: 'confirmed', miss: 'refuted' },
  'MedicationStatement.code': { match: 'http://www.nlm.nih.gov/research/umls/rxnorm|', miss: 'http://snomed.info/sct|' },
  'MedicationStatement.status': { match: 'active', miss: 'stopped' },
  'AllergyIntolerance.code': { match: '91936005', miss: '300916003' },
  'AllergyIntolerance.clinical-status': { match: 'active', miss: 'inactive' },
  'AllergyIntolerance.verification-status': { match: 'confirmed', miss: 'unconfirmed' },
  'Immunization.vaccine-code': { match: 'http://hl7.org/fhir/sid/cvx|208', miss: 'http://hl7.org/fhir/sid/cvx|140' },
  'Immunization.status': { match: 'completed', miss: 'not-done' },
  'Procedure.code': { match: '80146002', miss: '27737000' },
  'Procedure.status': { match: 'completed', miss: 'in-progress' },
  'DocumentReference.type': { match: 'http://loinc.org|34133-9', miss: 'http://loinc.org|11506-3' },
  'DocumentReference.category': { match: 'clinical-note', miss: 'other' },
  'DocumentReference.status': { match: 'current', miss: 'superseded' },
  'Observation.encounter': { match: 'Encounter/sample-visit', miss: 'Encounter/other-visit' },
  'DiagnosticReport.code': { match: 'http://loinc.org|24331-1', miss: 'http://loinc.org|58410-2' },
  'DiagnosticReport.category': { match: 'LAB', miss: 'RAD' },
  'DiagnosticReport.status': { match: 'final', miss: 'preliminary' },
  'DiagnosticReport.result': { match: 'Observation/sample-result', miss: 'Observation/other-result' },
  'DiagnosticReport.encounter': { match: 'sample-visit', miss: 'other-visit' },
  'Encounter.class': { match: 'http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB', miss: 'IMP' },
  'Encounter.type': { match: '185349003', miss: '270427003' },
  'Encounter.status': { match: 'finished', miss: 'in-progress' },
  'Provenance.target': { match: 'Observation/sample-result', miss: 'Observation/other-result' },
  'Provenance.entity': { match: 'DocumentReference/sample-document', miss: 'DocumentReference/other-document' },
};

/** The `date` each sample is about (its type's date element). */
const DATES: Readonly<Record<string, SearchProbe>> = {
  Observation: { match: '2026-03-01', miss: 'gt2026-03-02' },
  Condition: { match: '2019-03', miss: 'lt2019-03-01' },
  MedicationStatement: { match: 'ge2024-01-10', miss: '2023' },
  AllergyIntolerance: { match: '2020-07-01', miss: 'ne2020-07-01' },
  Immunization: { match: 'le2021-04-10', miss: 'gt2021-04-10' },
  Procedure: { match: '2015-06-01T09:00:00Z', miss: '2015-06-02' },
  DocumentReference: { match: 'sa2025-11-01', miss: 'eb2025-11-01' },
  DiagnosticReport: { match: '2026-02-10', miss: 'lt2026-02-10' },
  Encounter: { match: 'ge2026-02-10T08:30:00Z', miss: 'gt2026-02-10' },
  Provenance: { match: '2026-02-10', miss: 'lt2026-02-10' },
};

/**
 * The probe for `param` on `type`, for a sample with id `id` in record `recordId`; `undefined` when
 * the parameter has no entry (an advertised parameter without a check).
 */
export function searchProbe(type: string, param: string, id: string, recordId: string, otherId: string): SearchProbe | undefined {
  switch (param) {
    case '_id':
      return { match: id, miss: otherId };
    case '_lastUpdated':
      return { match: 'ge2000-01-01', miss: 'lt2000-01-01' };
    case 'patient':
    case 'subject':
      return type === 'Patient' ? undefined : { match: `Patient/${recordId}`, miss: `Patient/${otherId}` };
    case 'date':
      return DATES[type];
    default:
      return TOKENS[`${type}.${param}`];
  }
}
