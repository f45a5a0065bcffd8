/**
 * The one rule for accepting a FHIR resource (src/fhir/acceptance.ts), which the record repository
 * (and through it transaction Bundles and imports) and DOPU packages use: a JSON object of the
 * type asked for, storable text, the URL's id, the patient element bound to the record (added when
 * missing, refused when it names another patient) or, for a package, naming some patient or none,
 * valid FHIR R4 as it will be stored; refusals name the place in the caller's own terms; the input
 * is never changed.
 */
import { acceptResource, asStored } from '../../src/fhir/acceptance';
import { InvalidResource } from '../../src/fhir/errors';
import { DomainError } from '../../src/errors';

type Json = Record<string, unknown>;

const RECORD = { id: 'rec-1', fhirBase: 'https://vault.example/fhir' };
const weight = (extra: Json = {}): Json => ({
  resourceType: 'Observation',
  status: 'final',
  code: { text: 'Body weight' },
  valueQuantity: { value: 72.5, unit: 'kg' },
  ...extra,
});
const allergy = (extra: Json = {}): Json => ({ resourceType: 'AllergyIntolerance', code: { text: 'Peanuts' }, ...extra });

function refusal(body: unknown, acceptance: Parameters<typeof acceptResource>[1]): { kind: string; message: string; expression?: string[] } {
  try {
    acceptResource(body, acceptance);
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    return { kind: error.kind, message: error.message, ...(error instanceof InvalidResource ? { expression: error.expression } : {}) };
  }
  throw new Error('accepted');
}

test('a resource for a record: the patient element is added when missing, kept when it names the record, by reference or full URL', () => {
  const body = weight();
  const accepted = acceptResource(body, { type: 'Observation', record: RECORD });
  expect(accepted.subject).toEqual({ reference: 'Patient/rec-1' });
  expect(body.subject).toBeUndefined();
  for (const reference of ['Patient/rec-1', 'https://vault.example/fhir/Patient/rec-1']) {
    expect(acceptResource(weight({ subject: { reference } }), { type: 'Observation', record: RECORD }).subject).toEqual({ reference });
  }
  // A patient element that is required (AllergyIntolerance.patient) is valid once added.
  expect(acceptResource(allergy(), { type: 'AllergyIntolerance', record: RECORD }).patient).toEqual({ reference: 'Patient/rec-1' });
});

test('a resource naming another patient, or one that only ends like the record’s, reaches no other record', () => {
  for (const reference of ['Patient/rec-2', 'Patient/x/Patient/rec-1', 'https://elsewhere.example/fhir/Patient/rec-1']) {
    expect(refusal(weight({ subject: { reference } }), { type: 'Observation', record: RECORD })).toEqual({
      kind: 'forbidden',
      message: "Observation.subject must refer to this record's patient, Patient/rec-1.",
    });
  }
  expect(refusal(weight({ subject: 'Patient/rec-1' }), { type: 'Observation', record: RECORD }).message).toBe(
    'Observation.subject must be a Reference like {"reference": "Patient/rec-1"}.',
  );
});

test('each rule in order, each refusal naming its place', () => {
  const asked = { type: 'Observation', record: RECORD } as const;
  expect(refusal('text', asked)).toMatchObject({ kind: 'invalid', message: 'Observation: must be a FHIR resource (a JSON object).' });
  expect(refusal({ resourceType: 'Condition' }, asked)).toMatchObject({
    message: 'Observation.resourceType: must be Observation.',
    expression: ['Observation.resourceType'],
  });
  expect(refusal(weight({ note: [{ text: 'a\u0000b' }] }), asked).message).toBe(
    'Observation.note[0].text: text cannot contain NUL characters or broken Unicode.',
  );
  let deep: Json = { text: 'deep' };
  for (let level = 0; level < 70; level += 1) deep = { extension: [deep] };
  expect(refusal(weight({ code: deep }), asked).message).toMatch(/^Observation\.code(\.extension\[0\])+.*: the resource is nested too deeply\.$/);
  expect(refusal(weight({ id: 'other' }), { ...asked, id: 'w-1' })).toMatchObject({ message: 'Observation.id: must be w-1, as in the URL.' });
  expect(acceptResource(weight({ id: 'w-1' }), { ...asked, id: 'w-1' }).id).toBe('w-1');
  expect(refusal(weight({ status: 'bogus' }), asked).message).toMatch(/^Observation\.status: "bogus" is not an allowed code here/);
  expect(refusal(weight({ colour: 'red' }), asked).expression).toEqual(['Observation.colour']);
});

test('a rewrite runs once the text is known to be storable, and before the patient is checked', () => {
  const rewrite = (resource: Json) => ({ ...resource, subject: { reference: 'Patient/rec-1' } });
  const pointed = acceptResource(weight({ subject: { reference: 'urn:uuid:1' } }), { type: 'Observation', record: RECORD, rewrite });
  expect(pointed.subject).toEqual({ reference: 'Patient/rec-1' });
  let rewritten = 0;
  const counting = (resource: Json) => {
    rewritten += 1;
    return resource;
  };
  refusal(weight({ note: [{ text: '\u0000' }] }), { type: 'Observation', record: RECORD, rewrite: counting });
  expect(rewritten).toBe(0);
});

test('a resource not yet in a record (a package’s): any of the allowed types, a patient named or none, places in the caller’s terms', () => {
  const packaged = { types: ['Observation', 'Condition'] as const, place: (path: string) => (path ? `resources[2].${path}` : 'resources[2]') };
  expect(acceptResource(weight(), packaged).subject).toBeUndefined();
  const elsewhere = { reference: 'https://ehr.example/fhir/Patient/77' };
  expect(acceptResource(weight({ subject: elsewhere }), packaged).subject).toEqual(elsewhere);
  expect(refusal(weight({ subject: { reference: 'Group/7' } }), packaged).message).toMatch(/^resources\[2\]\.subject: must be a Reference to the patient/);
  expect(refusal({ resourceType: 'Organization' }, packaged).message).toBe(
    'resources[2].resourceType: must be one of the types a record holds: Observation, Condition.',
  );
  expect(refusal(7, packaged).message).toBe('resources[2]: must be a FHIR resource (a JSON object).');
  expect(refusal(weight({ colour: 'red' }), packaged).message).toBe('resources[2].colour: "colour" is not an element FHIR R4 defines here.');
});

test('what a stored version carries: its id and meta, the rest of meta kept', () => {
  const at = new Date('2026-01-02T03:04:05.000Z');
  expect(asStored(weight({ id: 'sent', meta: { tag: [{ code: 'x' }] } }), 'w-9', 3, at)).toMatchObject({
    id: 'w-9',
    meta: { tag: [{ code: 'x' }], versionId: '3', lastUpdated: '2026-01-02T03:04:05.000Z' },
  });
});
