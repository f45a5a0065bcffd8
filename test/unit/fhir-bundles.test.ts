/**
 * The pure parts of transaction Bundles and imports: entries as steps, references to
 * entries rewritten by fullUrl, and a Bundle file planned into one record — its Patient taken as
 * the record's, references to it and between its resources following the new ids, kinds a record
 * does not hold left out, and files about two people refused.
 */
import { importPlan } from '../../src/fhir/import';
import { referenceTargets, rewriteReferences, stepOf } from '../../src/fhir/transaction';

const RECORD = '7d9f4a52-0000-4000-8000-000000000001';

describe('transaction steps', () => {
  test('each request becomes a step; new resources get their ids up front', () => {
    const post = stepOf({ request: { method: 'POST', url: 'Observation' }, resource: { resourceType: 'Observation' } }, 0);
    expect(post).toMatchObject({ method: 'POST', type: 'Observation' });
    expect(post.method === 'POST' && post.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(stepOf({ request: { method: 'PUT', url: '/Condition/c1', ifMatch: 'W/"3"' }, resource: {} }, 1)).toMatchObject({
      method: 'PUT',
      type: 'Condition',
      id: 'c1',
      ifMatch: 3,
    });
    expect(stepOf({ request: { method: 'GET', url: 'Observation?code=x' } }, 2)).toEqual({ method: 'SEARCH', type: 'Observation', query: { code: 'x' } });
    expect(stepOf({ request: { method: 'DELETE', url: 'https://cv.example/fhir/Encounter/e1' } }, 3, 'https://cv.example/fhir')).toEqual({
      method: 'DELETE',
      type: 'Encounter',
      id: 'e1',
    });
    expect(() => stepOf({ request: { method: 'PATCH', url: 'Observation/1' } }, 4)).toThrow(/Bundle\.entry\[4\]: the method must be/);
    expect(() => stepOf({ request: { method: 'POST', url: 'Practitioner' }, resource: {} }, 5)).toThrow(/does not hold Practitioner/);
  });

  test('references to an entry by its fullUrl, or by the Type/id tail of an absolute one, follow its new id', () => {
    const entries = [{ fullUrl: 'urn:uuid:aaa' }, { fullUrl: 'https://other.example/fhir/Observation/old-1' }, {}];
    const steps = [
      { method: 'POST' as const, type: 'Encounter' as const, id: 'e-new', resource: {} },
      { method: 'POST' as const, type: 'Observation' as const, id: 'o-new', resource: {} },
      { method: 'DELETE' as const, type: 'Condition' as const, id: 'c1' },
    ];
    const targets = referenceTargets(entries, steps);
    expect(Object.fromEntries(targets)).toEqual({
      'urn:uuid:aaa': 'Encounter/e-new',
      'https://other.example/fhir/Observation/old-1': 'Observation/o-new',
      'Observation/old-1': 'Observation/o-new',
    });
    expect(
      rewriteReferences(
        {
          encounter: { reference: 'urn:uuid:aaa' },
          result: [{ reference: 'Observation/old-1' }, { reference: 'Observation/else' }],
          note: [{ text: 'urn:uuid:aaa' }],
        },
        targets,
      ),
    ).toEqual({
      encounter: { reference: 'Encounter/e-new' },
      result: [{ reference: 'Observation/o-new' }, { reference: 'Observation/else' }],
      note: [{ text: 'urn:uuid:aaa' }],
    });
  });
});

describe('import plan', () => {
  const observation = (id: string, subject: string) => ({
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { text: 'Weight' },
    subject: { reference: subject },
  });

  test('the file’s Patient becomes the record’s, other resources new ones, references follow, other kinds are left out', () => {
    const plan = importPlan(RECORD, {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'https://old.example/fhir/Patient/p1', resource: { resourceType: 'Patient', id: 'p1', meta: { versionId: '4' }, name: [{ text: 'Alex' }] } },
        { fullUrl: 'https://old.example/fhir/Observation/o1', resource: observation('o1', 'Patient/p1') },
        {
          resource: {
            resourceType: 'DiagnosticReport',
            id: 'r1',
            status: 'final',
            code: { text: 'Panel' },
            subject: { reference: 'Patient/p1' },
            result: [{ reference: 'Observation/o1' }],
          },
        },
        { resource: { resourceType: 'Practitioner', id: 'dr' } },
        { resource: { resourceType: 'Organization', id: 'org' } },
        { resource: { resourceType: 'Organization', id: 'org2' } },
      ],
    });
    expect(plan.steps.map((step) => `${step.method} ${step.type}`)).toEqual(['PUT Patient', 'POST Observation', 'POST DiagnosticReport']);
    expect(plan.steps[0]).toMatchObject({ id: RECORD, resource: { resourceType: 'Patient', id: RECORD, name: [{ text: 'Alex' }] } });
    expect(plan.steps[0] && 'resource' in plan.steps[0] && plan.steps[0].resource.meta).toBeUndefined();
    expect(plan.steps[1] && 'resource' in plan.steps[1] && plan.steps[1].resource.id).toBeUndefined();
    const observationId = plan.steps[1]?.method === 'POST' ? plan.steps[1].id : '';
    const targets = new Map([...referenceTargets(plan.entries, plan.steps), ...plan.targets]);
    expect(targets.get('Patient/p1')).toBe(`Patient/${RECORD}`);
    expect(targets.get('Observation/o1')).toBe(`Observation/${observationId}`);
    expect(Object.fromEntries(plan.skipped)).toEqual({ Practitioner: 1, Organization: 2 });
  });

  test('a file without a Patient that names one person is taken to be about this record’s', () => {
    const plan = importPlan(RECORD, {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: [{ resource: observation('a', 'https://x.example/Patient/9') }, { resource: observation('b', 'Patient/9') }],
    });
    expect(plan.targets.get('Patient/9')).toBe(`Patient/${RECORD}`);
    expect(plan.targets.get('https://x.example/Patient/9')).toBe(`Patient/${RECORD}`);
  });

  test('files about two people, with two Patients, or with nothing to keep are refused', () => {
    expect(() =>
      importPlan(RECORD, {
        resourceType: 'Bundle',
        type: 'collection',
        entry: [{ resource: observation('a', 'Patient/1') }, { resource: observation('b', 'Patient/2') }],
      }),
    ).toThrow(/more than one person/);
    expect(() =>
      importPlan(RECORD, {
        resourceType: 'Bundle',
        type: 'collection',
        entry: [{ resource: { resourceType: 'Patient', id: '1' } }, { resource: { resourceType: 'Patient', id: '2' } }],
      }),
    ).toThrow(/Item 2 is a second person/);
    expect(() => importPlan(RECORD, { resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Practitioner' } }] })).toThrow(
      /nothing a health record keeps/,
    );
    expect(() => importPlan(RECORD, { resourceType: 'Bundle', type: 'history', entry: [] })).toThrow(/Bundle\.type must be/);
    expect(() => importPlan(RECORD, { resourceType: 'Observation' })).toThrow(/must be a FHIR Bundle/);
  });
});
