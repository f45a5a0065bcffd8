import { mandatoryElements, validateResource, type ValidationResult } from '../../src/fhir/validation';
import { RECORD_TYPES, type RecordType } from '../../src/rules/catalogue';

type Json = Record<string, unknown>;

const patientRef = { reference: 'Patient/p1' };

/** A body weight: LOINC 29463-7 in kg, with id, meta and narrative text. */
function weight(): Json {
  return {
    resourceType: 'Observation',
    id: 'w1',
    meta: { versionId: '1', lastUpdated: '2024-05-01T10:00:00Z' },
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Weight 72.5 kg</div>' },
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] },
    subject: patientRef,
    effectiveDateTime: '2024-05-01T08:30:00+02:00',
    valueQuantity: { value: 72.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
  };
}

const VALID: Record<RecordType, () => Json> = {
  Patient: () => ({
    resourceType: 'Patient',
    id: 'p1',
    meta: { lastUpdated: '2024-05-01T10:00:00Z' },
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Jane Doe</div>' },
    name: [{ family: 'Doe', given: ['Jane'] }],
    gender: 'female',
    birthDate: '1980-02-29',
    telecom: [{ system: 'email', value: 'jane@example.org' }],
  }),
  Observation: weight,
  Condition: () => ({
    resourceType: 'Condition',
    clinicalStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }],
    },
    verificationStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }],
    },
    code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003', display: 'Hypertension' }] },
    subject: patientRef,
    onsetDateTime: '2019-03',
  }),
  MedicationStatement: () => ({
    resourceType: 'MedicationStatement',
    status: 'active',
    medicationCodeableConcept: {
      coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '197361', display: 'Amlodipine 5 MG Oral Tablet' }],
    },
    subject: patientRef,
    dosage: [{ text: 'One tablet daily' }],
  }),
  AllergyIntolerance: () => ({
    resourceType: 'AllergyIntolerance',
    clinicalStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }],
    },
    code: { coding: [{ system: 'http://snomed.info/sct', code: '91936005', display: 'Allergy to penicillin' }] },
    patient: patientRef,
  }),
  Immunization: () => ({
    resourceType: 'Immunization',
    status: 'completed',
    vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '208' }] },
    patient: patientRef,
    occurrenceDateTime: '2021-04-10',
  }),
  Procedure: () => ({
    resourceType: 'Procedure',
    status: 'completed',
    code: { coding: [{ system: 'http://snomed.info/sct', code: '80146002', display: 'Appendectomy' }] },
    subject: patientRef,
    performedDateTime: '2015-06-01T09:00:00Z',
  }),
  DocumentReference: () => ({
    resourceType: 'DocumentReference',
    status: 'current',
    subject: patientRef,
    content: [{ attachment: { contentType: 'application/pdf', url: 'https://example.org/doc.pdf', title: 'Letter' } }],
  }),
  DiagnosticReport: () => ({
    resourceType: 'DiagnosticReport',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '24331-1', display: 'Lipid panel' }] },
    subject: patientRef,
    effectiveDateTime: '2024-05-01T08:30:00Z',
    result: [{ reference: 'Observation/o1' }],
  }),
  Encounter: () => ({
    resourceType: 'Encounter',
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
    type: [{ coding: [{ system: 'http://snomed.info/sct', code: '185349003', display: 'Check-up' }] }],
    subject: patientRef,
    period: { start: '2024-05-01T08:00:00Z', end: '2024-05-01T08:30:00Z' },
  }),
  Provenance: () => ({
    resourceType: 'Provenance',
    target: [{ reference: 'Observation/o1' }, { reference: 'Condition/c1' }],
    recorded: '2024-05-01T08:45:00Z',
    occurredDateTime: '2024-05-01T08:30:00+02:00',
    activity: { text: 'Read from a clinical document' },
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] },
        who: { display: 'Lakeside Family Clinic' },
      },
    ],
    entity: [{ role: 'source', what: { reference: 'DocumentReference/d1' } }],
  }),
};

function issuesOf(result: ValidationResult): { path: string; message: string }[] {
  if (result.valid) throw new Error('expected the resource to be refused, but it was accepted');
  expect(result.issues.length).toBeGreaterThan(0);
  for (const issue of result.issues) {
    // A sentence a person can read: starts with a capital or a quote, ends with a full stop.
    expect(issue.message).toMatch(/^["A-Z0-9].{10,}\.$/s);
  }
  return result.issues;
}

/** Refused, with an issue at exactly `path`. */
function expectRefusedAt(resource: unknown, expectedType: string, path: string): string {
  const issues = issuesOf(validateResource(resource, expectedType));
  const issue = issues.find((i) => i.path === path);
  if (!issue) throw new Error(`no issue at ${path}; got ${JSON.stringify(issues)}`);
  return issue.message;
}

function without(resource: Json, key: string): Json {
  const copy = { ...resource };
  delete copy[key];
  return copy;
}

describe('validateResource accepts valid resources', () => {
  it('has a valid example for every catalogue type', () => {
    expect(Object.keys(VALID).sort()).toEqual([...RECORD_TYPES].sort());
  });

  it.each(RECORD_TYPES.map((t) => [t]))('accepts a valid %s', (type) => {
    expect(validateResource(VALID[type](), type)).toEqual({ valid: true });
  });

  it('accepts id, meta and text on every catalogue type', () => {
    for (const type of RECORD_TYPES) {
      const resource = {
        ...VALID[type](),
        id: 'abc-123.x',
        meta: {
          versionId: '7',
          lastUpdated: '2024-05-01T10:00:00.123+02:00',
          tag: [{ system: 'https://carevault.example/tags', code: 'imported' }],
        },
        text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><p>Summary</p></div>' },
      };
      expect([type, validateResource(resource, type)]).toEqual([type, { valid: true }]);
    }
  });

  it('accepts other common shapes: components, choice types, extensions, contained resources', () => {
    const bloodPressure = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }], text: 'Blood pressure' },
      subject: patientRef,
      effectivePeriod: { start: '2024-05-01T08:00:00Z', end: '2024-05-01T08:05:00Z' },
      note: [{ text: 'After exercise' }],
      component: [
        { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 142, unit: 'mmHg' } },
        { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 91, unit: 'mmHg' } },
      ],
    };
    expect(validateResource(bloodPressure, 'Observation')).toEqual({ valid: true });
    const mood = { resourceType: 'Observation', status: 'preliminary', code: { text: 'Mood' }, valueString: 'good' };
    expect(validateResource(mood, 'Observation')).toEqual({ valid: true });

    const patient = {
      ...VALID.Patient(),
      extension: [{ url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex', valueCode: 'F' }],
      _birthDate: {
        extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1980-02-29T06:15:00+01:00' }],
      },
    };
    expect(validateResource(patient, 'Patient')).toEqual({ valid: true });

    const withContained = {
      resourceType: 'MedicationStatement',
      status: 'active',
      contained: [{ resourceType: 'Medication', id: 'm1', code: { text: 'Aspirin 81 mg' } }],
      medicationReference: { reference: '#m1' },
      subject: patientRef,
    };
    expect(validateResource(withContained, 'MedicationStatement')).toEqual({ valid: true });
  });

  it('does not change the resource it validates', () => {
    const resource = weight();
    const before = JSON.stringify(resource);
    validateResource(resource, 'Observation');
    validateResource({ ...resource, colour: 'red' }, 'Observation');
    expect(JSON.stringify(resource)).toBe(before);
  });
});

describe('validateResource refuses', () => {
  it.each([
    ['a string', 'hello'],
    ['a number', 42],
    ['null', null],
    ['undefined', undefined],
    ['an array', [weight()]],
  ])('a body that is %s, not an object', (_label, body) => {
    expectRefusedAt(body, 'Observation', 'Observation');
  });

  it('a resource without resourceType', () => {
    expect(expectRefusedAt(without(weight(), 'resourceType'), 'Observation', 'Observation.resourceType')).toContain('Observation');
  });

  it('a resourceType other than the expected one', () => {
    const message = expectRefusedAt(VALID.Patient(), 'Observation', 'Observation.resourceType');
    expect(message).toContain('"Patient"');
    expect(message).toContain('Observation');
    // even when the body is a valid resource of the type it claims
    expect(validateResource(VALID.Condition(), 'Condition').valid).toBe(true);
    expectRefusedAt(VALID.Condition(), 'Procedure', 'Procedure.resourceType');
  });

  it('an unknown expected type', () => {
    expectRefusedAt({ resourceType: 'Colour' }, 'Colour', 'resourceType');
  });

  it('an Observation without status', () => {
    expect(expectRefusedAt(without(weight(), 'status'), 'Observation', 'Observation.status')).toContain('status');
  });

  it('an Observation without code', () => {
    expect(expectRefusedAt(without(weight(), 'code'), 'Observation', 'Observation.code')).toContain('code');
  });

  it('a code outside a required value set (status: "bogus")', () => {
    const message = expectRefusedAt({ ...weight(), status: 'bogus' }, 'Observation', 'Observation.status');
    expect(message).toContain('bogus');
    expect(message).toContain('final');
  });

  it('a coding outside a required value set in a CodeableConcept (Condition.clinicalStatus)', () => {
    const condition = {
      ...VALID.Condition(),
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'bogus' }] },
    };
    expect(expectRefusedAt(condition, 'Condition', 'Condition.clinicalStatus')).toContain('bogus');
  });

  it('a number where a CodeableConcept belongs (code: 7)', () => {
    expect(expectRefusedAt({ ...weight(), code: 7 }, 'Observation', 'Observation.code')).toContain('7');
  });

  it('a number where a code string belongs (code.coding[0].code: 7)', () => {
    const observation = { ...weight(), code: { coding: [{ system: 'http://loinc.org', code: 7 }] } };
    expectRefusedAt(observation, 'Observation', 'Observation.code.coding[0].code');
  });

  it('a number as status (status: 7)', () => {
    expectRefusedAt({ ...weight(), status: 7 }, 'Observation', 'Observation.status');
  });

  it('a string where a decimal belongs (valueQuantity.value: "heavy")', () => {
    const observation = { ...weight(), valueQuantity: { value: 'heavy', unit: 'kg' } };
    expect(expectRefusedAt(observation, 'Observation', 'Observation.valueQuantity.value')).toContain('heavy');
  });

  it.each(['yesterday', '2024-13-45', '2024-05-01T08:30'])('a malformed dateTime (effectiveDateTime: "%s")', (value) => {
    const observation = { ...weight(), effectiveDateTime: value };
    expect(expectRefusedAt(observation, 'Observation', 'Observation.effectiveDateTime')).toContain('dateTime');
  });

  it('an unknown element (colour: "red")', () => {
    expect(expectRefusedAt({ ...weight(), colour: 'red' }, 'Observation', 'Observation.colour')).toContain('colour');
  });

  it('an unknown element inside a complex element', () => {
    const observation = { ...weight(), valueQuantity: { value: 72.5, unit: 'kg', colour: 'red' } };
    expectRefusedAt(observation, 'Observation', 'Observation.valueQuantity.colour');
  });

  it('a single value where an array belongs, and an array where a single value belongs', () => {
    expectRefusedAt({ ...weight(), category: { text: 'vital signs' } }, 'Observation', 'Observation.category');
    expectRefusedAt({ ...weight(), code: [{ text: 'weight' }] }, 'Observation', 'Observation.code');
  });

  it('null, empty strings and malformed ids', () => {
    expectRefusedAt({ ...weight(), subject: null }, 'Observation', 'Observation.subject');
    expectRefusedAt({ ...weight(), subject: { reference: '' } }, 'Observation', 'Observation.subject.reference');
    expectRefusedAt({ ...weight(), id: 'not an id' }, 'Observation', 'Observation.id');
  });

  it('missing required elements of the other catalogue types', () => {
    const noMedication = without(VALID.MedicationStatement(), 'medicationCodeableConcept');
    expectRefusedAt(noMedication, 'MedicationStatement', 'MedicationStatement.medication[x]');
    expectRefusedAt(without(VALID.Immunization(), 'occurrenceDateTime'), 'Immunization', 'Immunization.occurrence[x]');
    expectRefusedAt(without(VALID.Immunization(), 'vaccineCode'), 'Immunization', 'Immunization.vaccineCode');
    const noPatient = without(VALID.AllergyIntolerance(), 'patient');
    expectRefusedAt(noPatient, 'AllergyIntolerance', 'AllergyIntolerance.patient');
    expectRefusedAt(without(VALID.Procedure(), 'subject'), 'Procedure', 'Procedure.subject');
    expectRefusedAt(without(VALID.Condition(), 'subject'), 'Condition', 'Condition.subject');
    const noContent = without(VALID.DocumentReference(), 'content');
    expectRefusedAt(noContent, 'DocumentReference', 'DocumentReference.content');
    expectRefusedAt({ ...VALID.DocumentReference(), content: [] }, 'DocumentReference', 'DocumentReference.content');
    expectRefusedAt({ ...VALID.Patient(), gender: 'x' }, 'Patient', 'Patient.gender');
  });

  it('errors inside contained resources, at their own path', () => {
    const statement = {
      ...VALID.MedicationStatement(),
      contained: [
        { resourceType: 'Medication', id: 'm1', code: { text: 'Aspirin' } },
        { resourceType: 'Medication', id: 'm2', colour: 'red' },
      ],
    };
    expectRefusedAt(statement, 'MedicationStatement', 'MedicationStatement.contained[1].colour');
    const unknownType = { ...VALID.MedicationStatement(), contained: [{ resourceType: 'Potion' }] };
    expectRefusedAt(unknownType, 'MedicationStatement', 'MedicationStatement.contained[0].resourceType');
  });

  it('reports every problem of a resource with several', () => {
    const observation = { ...without(weight(), 'status'), colour: 'red', effectiveDateTime: 'yesterday' };
    const paths = issuesOf(validateResource(observation, 'Observation')).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['Observation.status', 'Observation.colour', 'Observation.effectiveDateTime']));
  });

  it('a literal reference in none of the forms R4 gives: a relative one is exactly Type/id', () => {
    // FHIR.js refuses some of these already (on the element); none of them passes.
    for (const reference of ['Patient/p2/x/Patient/p1', 'Patient/p1/', '/Patient/p1', 'Patient', 'Patient/p1?x=1', 'Patient/p1/_history', ' Patient/p1']) {
      expect([reference, validateResource({ ...weight(), subject: { reference } }, 'Observation').valid]).toEqual([reference, false]);
    }
    const message = expectRefusedAt({ ...weight(), subject: { reference: 'Patient/p2/x/Patient/p1' } }, 'Observation', 'Observation.subject.reference');
    expect(message).toBe(
      '"Patient/p2/x/Patient/p1" is not a reference FHIR R4 allows: a relative reference is exactly Type/id (optionally /_history/version), anything else a full URL, a urn:uuid: or a #contained id.',
    );
    // Wherever it is: in a list, in a contained resource.
    expectRefusedAt(
      { ...VALID.DiagnosticReport(), result: [{ reference: 'Observation/o1' }, { reference: 'Observation/o1/x/Observation/o2' }] },
      'DiagnosticReport',
      'DiagnosticReport.result[1].reference',
    );
    const contained = {
      ...VALID.MedicationStatement(),
      contained: [{ resourceType: 'Medication', id: 'm1', manufacturer: { reference: 'Organization/a/x/Organization/b' } }],
    };
    expectRefusedAt(contained, 'MedicationStatement', 'MedicationStatement.contained[0].manufacturer.reference');
    // The forms R4 gives pass.
    for (const reference of ['Patient/p1', 'https://ehr.example/fhir/Patient/p1', 'urn:uuid:0d3b6c0e-2f35-4c71-9d2c-6a8f2b1f5e01', 'urn:oid:1.2.3']) {
      expect([reference, validateResource({ ...weight(), subject: { reference } }, 'Observation')]).toEqual([reference, { valid: true }]);
    }
  });
});

describe('mandatoryElements', () => {
  it('names the top-level elements R4 requires of a type, a choice element by each of its names', () => {
    expect([...mandatoryElements('Observation')].sort()).toEqual(['code', 'status']);
    expect([...mandatoryElements('MedicationStatement')].sort()).toEqual(['medicationCodeableConcept', 'medicationReference', 'status', 'subject']);
    expect([...mandatoryElements('Patient')]).toEqual([]);
  });
});
