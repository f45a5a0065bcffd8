/**
 * The scope grammar (src/rules/scopes.ts): SMART v2 record scopes with v1 equivalents, identity and
 * access scopes, and the words a person reads on the consent page.
 */
import { describeScope, isIdentityScope, isRuleScope, parseRecordScope, splitScopes, type Permission } from '../../src/rules/scopes';

function permissionsOf(scope: string): Permission[] | undefined {
  const parsed = parseRecordScope(scope);
  return parsed ? [...parsed.permissions].sort() : undefined;
}

describe('parseRecordScope', () => {
  test.each([
    ['patient/Observation.rs', 'Observation', ['r', 's']],
    ['patient/Observation.cruds', 'Observation', ['c', 'd', 'r', 's', 'u']],
    ['patient/Condition.c', 'Condition', ['c']],
    ['patient/MedicationStatement.rud', 'MedicationStatement', ['d', 'r', 'u']],
    ['patient/Patient.r', 'Patient', ['r']],
    ['patient/DocumentReference.cs', 'DocumentReference', ['c', 's']],
  ])('accepts the v2 scope %s', (scope, type, permissions) => {
    const parsed = parseRecordScope(scope);
    expect(parsed).toBeDefined();
    expect(parsed?.scope).toBe(scope);
    expect(parsed?.type).toBe(type);
    expect([...(parsed?.permissions ?? [])].sort()).toEqual([...permissions].sort());
  });

  test('accepts SMART v1 .read as .rs and .write as .cud', () => {
    expect(permissionsOf('patient/Observation.read')).toEqual(['r', 's']);
    expect(permissionsOf('patient/Observation.write')).toEqual(['c', 'd', 'u']);
    expect(parseRecordScope('patient/Immunization.read')?.type).toBe('Immunization');
  });

  test('accepts * as the type (the whole record)', () => {
    const parsed = parseRecordScope('patient/*.rs');
    expect(parsed?.type).toBe('*');
    expect([...(parsed?.permissions ?? [])].sort()).toEqual(['r', 's']);
    expect(permissionsOf('patient/*.cruds')).toEqual(['c', 'd', 'r', 's', 'u']);
    expect(permissionsOf('patient/*.read')).toEqual(['r', 's']);
  });

  test.each(['patient/Foo.rs', 'patient/Practitioner.rs', 'patient/observation.rs', 'patient/Organization.read'])(
    'rejects the type outside the catalogue in %s',
    (scope) => {
      expect(parseRecordScope(scope)).toBeUndefined();
    },
  );

  test.each(['patient/Observation.sr', 'patient/Observation.rc', 'patient/Observation.scrud', 'patient/Observation.dr'])(
    'rejects letters out of order: %s',
    (scope) => {
      expect(parseRecordScope(scope)).toBeUndefined();
    },
  );

  test.each(['patient/Observation.rr', 'patient/Observation.rss', 'patient/Observation.ccruds'])('rejects repeated letters: %s', (scope) => {
    expect(parseRecordScope(scope)).toBeUndefined();
  });

  test.each([
    'patient/Observation.',
    'patient/.rs',
    'patient/Observation',
    '',
    'patient/Observation.x',
    'patient/Observation.rsx',
    'patient/Observation.READ',
    'patient/Observation.readwrite',
    'user/Observation.rs',
    'system/Observation.rs',
    'Observation.rs',
    ' patient/Observation.rs',
    'patient/Observation.rs ',
    'openid',
    'offline_access',
  ])('rejects %p', (scope) => {
    expect(parseRecordScope(scope)).toBeUndefined();
  });
});

describe('describeScope', () => {
  test('says what a record scope lets the app do, in plain words', () => {
    expect(describeScope('patient/Observation.rs')).toBe('Read and search your observations — vital signs and lab results');
    expect(describeScope('patient/Observation.read')).toBe('Read and search your observations — vital signs and lab results');
    expect(describeScope('patient/MedicationStatement.cruds')).toBe('Add to, read, change, delete and search your medicines list');
    expect(describeScope('patient/Condition.r')).toBe('Read your conditions — health problems and diagnoses');
    expect(describeScope('patient/*.rs')).toBe('Read and search your whole health record');
  });

  test('describes identity and access scopes', () => {
    expect(describeScope('offline_access')).toBe('Keep access while you are away, until you remove it');
    expect(describeScope('online_access')).toBe('Keep access while you are signed in');
    expect(describeScope('profile')).toBe('See your name');
    expect(describeScope('email')).toBe('See your email address');
  });

  test('returns an unknown scope as it is', () => {
    expect(describeScope('patient/Foo.rs')).toBe('patient/Foo.rs');
  });
});

describe('isRuleScope', () => {
  test.each(['patient/Observation.rs', 'patient/*.cruds', 'patient/Condition.read', 'offline_access', 'online_access'])(
    '%s may be registered as a rule',
    (scope) => {
      expect(isRuleScope(scope)).toBe(true);
    },
  );

  test.each(['openid', 'profile', 'email', 'fhirUser', 'launch/patient', 'dopu', 'patient/Foo.rs', 'patient/Observation.sr', '', 'anything'])(
    '%p may not be registered as a rule',
    (scope) => {
      expect(isRuleScope(scope)).toBe(false);
    },
  );
});

describe('identity scopes and splitting', () => {
  test('isIdentityScope knows the scopes open to every app', () => {
    for (const scope of ['openid', 'profile', 'email', 'fhirUser', 'launch/patient']) expect(isIdentityScope(scope)).toBe(true);
    for (const scope of ['offline_access', 'online_access', 'patient/Observation.rs', 'dopu']) expect(isIdentityScope(scope)).toBe(false);
  });

  test('splitScopes drops empty parts and duplicates, keeping order', () => {
    expect(splitScopes('openid  profile openid patient/Observation.rs ')).toEqual(['openid', 'profile', 'patient/Observation.rs']);
    expect(splitScopes(undefined)).toEqual([]);
    expect(splitScopes('')).toEqual([]);
  });
});
