/**
 * An app's registered rules and capabilities (src/rules/app-rules.ts): what the registration
 * document may hold, the client scope it adds up to, the rules as a consent page shows them, and
 * the decision read from a consent form.
 */
import { capabilitiesSchema, clientScope, rulesOf, rulesSchema, viewRule } from '../../src/rules/app-rules';
import { describeScopeFor } from '../../src/rules/scopes';
import { consentDecision } from '../../src/interactions/consent';

const observation = { scope: 'patient/Observation.rs', required: true, reason: 'Chart your weight' };
const medicines = { scope: 'patient/MedicationStatement.cruds', required: false, reason: 'Keep your medicines list' };
const offline = { scope: 'offline_access', required: false, reason: 'Sync your scale while you are away' };
const online = { scope: 'online_access', required: false, reason: 'Stay connected while you are signed in' };

function refusal(value: unknown): string {
  const parsed = rulesSchema.safeParse(value);
  expect(parsed.success).toBe(false);
  return parsed.error?.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; ') ?? '';
}

describe('rulesSchema', () => {
  test('accepts the design document rules and defaults required to false', () => {
    const parsed = rulesSchema.safeParse([observation, medicines, offline, { scope: 'patient/Condition.read', reason: 'See your conditions' }]);
    expect(parsed.success).toBe(true);
    expect(parsed.data?.[3]).toEqual({ scope: 'patient/Condition.read', reason: 'See your conditions', required: false });
    expect(rulesSchema.safeParse([]).success).toBe(true);
  });

  test('refuses the same scope twice', () => {
    expect(refusal([observation, { ...observation, required: false, reason: 'Again' }])).toContain('must not list the same scope twice');
  });

  test('refuses offline_access and online_access together', () => {
    expect(refusal([observation, offline, online])).toContain('may hold offline_access or online_access, not both');
  });

  test('refuses a scope that is not a rule scope, naming the field', () => {
    for (const scope of ['openid', 'patient/Foo.rs', 'patient/Observation.sr', 'dopu', '']) {
      const parsed = rulesSchema.safeParse([{ scope, required: true, reason: 'Because' }]);
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.path).toEqual([0, 'scope']);
    }
  });

  test('refuses a missing or empty reason', () => {
    expect(rulesSchema.safeParse([{ scope: 'patient/Observation.rs', required: true }]).success).toBe(false);
    const parsed = rulesSchema.safeParse([{ scope: 'patient/Observation.rs', required: true, reason: '   ' }]);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toBe('must say why the app needs it');
  });

  test('refuses unknown fields and non-boolean required', () => {
    expect(rulesSchema.safeParse([{ ...observation, extra: 1 }]).success).toBe(false);
    expect(rulesSchema.safeParse([{ ...observation, required: 'yes' }]).success).toBe(false);
    expect(rulesSchema.safeParse('patient/Observation.rs').success).toBe(false);
  });
});

describe('capabilitiesSchema', () => {
  test('accepts the known capabilities once each', () => {
    expect(capabilitiesSchema.safeParse(['dopu', 'connect', 'direct']).success).toBe(true);
    expect(capabilitiesSchema.safeParse(['dopu', 'dopu']).success).toBe(false);
    expect(capabilitiesSchema.safeParse(['email']).success).toBe(false);
  });
});

describe('clientScope', () => {
  test('is the identity scopes, then every rule scope, then every capability', () => {
    expect(clientScope([observation, medicines, offline], ['dopu', 'connect'])).toBe(
      'openid profile email fhirUser launch/patient patient/Observation.rs patient/MedicationStatement.cruds offline_access dopu connect',
    );
  });

  test('is only the identity scopes for an app without rules', () => {
    expect(clientScope([], [])).toBe('openid profile email fhirUser launch/patient');
  });
});

describe('rules as shown and as stored', () => {
  test('viewRule puts the scope in words; required rules are checked', () => {
    expect(viewRule(observation)).toEqual({
      scope: 'patient/Observation.rs',
      words: 'Read and search your observations — vital signs and lab results',
      reason: 'Chart your weight',
      required: true,
      checked: true,
    });
    expect(viewRule({ ...medicines, checked: false }).checked).toBe(false);
    expect(viewRule({ ...observation, checked: false }).checked).toBe(true);
  });

  test('optional rules start unticked, offline access too, whatever an older document said', () => {
    expect(viewRule(medicines).checked).toBe(false);
    expect(viewRule(offline).checked).toBe(false);
    expect(viewRule({ ...medicines, checked: true }).checked).toBe(false);
  });

  test("describeScopeFor words a rule in the chosen record's name", () => {
    expect(describeScopeFor('patient/Observation.rs', 'Mia Avery')).toBe("Read and search Mia Avery's observations — vital signs and lab results");
    expect(describeScopeFor('patient/*.rs', 'Mia Avery')).toBe("Read and search Mia Avery's whole health record");
    expect(describeScopeFor('offline_access', 'Mia Avery')).toBe('Keep access while you are away, until you remove it');
    expect(describeScopeFor('patient/Observation.rs', undefined)).toBe('Read and search your observations — vital signs and lab results');
  });

  test('rulesOf tolerates clients without rules', () => {
    expect(rulesOf(undefined)).toEqual([]);
    expect(rulesOf('nonsense')).toEqual([]);
    expect(rulesOf([observation])).toEqual([observation]);
  });
});

describe('the consent decision', () => {
  const rules = [observation, medicines, offline].map(viewRule);
  const two = [
    { id: 'own', access: 'custodian' as const },
    { id: 'child', access: 'custodian' as const },
  ];

  test('with several records, Allow without a choice is refused in words and keeps the optional ticks', () => {
    expect(consentDecision({ decision: 'allow', rules: ['offline_access'] }, rules, two)).toEqual({
      kind: 'invalid',
      missing: 'record',
      message: 'Choose which record the app may reach, then press Allow again.',
      ticked: ['offline_access'],
    });
    expect(consentDecision({ decision: 'allow', record: 'someone-else' }, rules, two)).toMatchObject({ kind: 'invalid', missing: 'form' });
    expect(consentDecision({ rules: ['offline_access'] }, rules, two)).toMatchObject({ kind: 'invalid', missing: 'form', message: 'Choose Allow or Deny.' });
  });

  test('with one record it is the obvious one; unticked optional rules are declined, required ones granted', () => {
    expect(consentDecision({ decision: 'allow' }, rules, [{ id: 'own', access: 'custodian' }])).toEqual({
      kind: 'allow',
      granted: ['patient/Observation.rs'],
      declined: ['patient/MedicationStatement.cruds', 'offline_access'],
      recordId: 'own',
    });
  });

  test('on a record shared View only, optional write rules are declined whatever was ticked, and a required one blocks Allow', () => {
    const shared = [{ id: 'shared', access: 'view' as const }];
    expect(consentDecision({ decision: 'allow', rules: ['patient/MedicationStatement.cruds', 'offline_access'] }, rules, shared)).toEqual({
      kind: 'allow',
      granted: ['patient/Observation.rs', 'offline_access'],
      declined: ['patient/MedicationStatement.cruds'],
      recordId: 'shared',
    });
    const writing = [{ ...observation, scope: 'patient/Observation.crus' }, offline].map(viewRule);
    expect(consentDecision({ decision: 'allow' }, writing, shared)).toMatchObject({ kind: 'invalid', missing: 'level' });
    expect(consentDecision({ decision: 'allow' }, writing, [{ id: 'own', access: 'change' }])).toMatchObject({ kind: 'allow' });
  });

  test('Deny needs no record', () => {
    expect(consentDecision({ decision: 'deny' }, rules, two)).toEqual({ kind: 'deny', recordId: undefined });
  });
});
