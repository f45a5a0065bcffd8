/**
 * What a Subscription may ask for (src/notifications/resource.ts, service.ts): the one topic, a
 * filter on a type the record holds, rest-hook to https, payload id-only or empty (never full
 * resources), header lines; endpoints on internal addresses refused unless allowed; and the words
 * the rule is shown in.
 */
import { endpointRefusal } from '../../src/notifications/service';
import { parseSubscription } from '../../src/notifications/resource';
import { describeScope, describeScopeFor, isRuleScope, parseRecordScope } from '../../src/rules/scopes';

const BASE = 'https://carevault.example/fhir';
const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';

function body(overrides: { criteria?: string; filter?: string; channel?: Record<string, unknown> } = {}) {
  return {
    resourceType: 'Subscription',
    status: 'requested',
    criteria: overrides.criteria ?? `${BASE}/SubscriptionTopic/record-changed`,
    ...(overrides.filter ? { _criteria: { extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: overrides.filter }] } } : {}),
    channel: { type: 'rest-hook', endpoint: 'https://app.example/hooks', payload: 'application/fhir+json', ...overrides.channel },
  };
}

const content = (code: string) => ({ _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: code }] } });

test('a Subscription to the topic, filtered by type, with id-only payload, headers and a heartbeat is taken', () => {
  const parsed = parseSubscription(
    body({
      filter: 'Observation?',
      channel: {
        ...content('empty'),
        header: ['Authorization: Bearer abc'],
        extension: [{ url: `${BACKPORT}/backport-heartbeat-period`, valueUnsignedInt: 60 }],
      },
    }),
    BASE,
    false,
  );
  expect(parsed).toMatchObject({ filterType: 'Observation', content: 'empty', headers: ['Authorization: Bearer abc'], heartbeatSeconds: 60 });
  expect(parsed.endpoint.href).toBe('https://app.example/hooks');
  expect(parseSubscription(body(), BASE, false)).toMatchObject({ filterType: undefined, content: 'id-only' });
});

test.each([
  ['full resources', body({ channel: content('full-resource') }), /never sends full resources/],
  ['another topic', body({ criteria: 'Observation?' }), /must be the topic/],
  ['a filter on a type the record does not hold', body({ filter: 'Account?' }), /resource type the record holds/],
  ['a filter with search parameters', body({ filter: 'Observation?code=1234' }), /resource type the record holds/],
  ['another channel', body({ channel: { type: 'websocket' } }), /rest-hook/],
  ['an http endpoint', body({ channel: { endpoint: 'http://app.example/hooks' } }), /https URL/],
  ['an endpoint with credentials', body({ channel: { endpoint: 'https://user:pw@app.example/hooks' } }), /https URL/],
  ['a header with a line break', body({ channel: { header: ['X-A: 1\r\nX-B: 2'] } }), /one "Name: value" line/],
  ['a heartbeat of 1 second', body({ channel: { extension: [{ url: `${BACKPORT}/backport-heartbeat-period`, valueUnsignedInt: 1 }] } }), /heartbeat period/],
  ['another resource', { resourceType: 'Observation' }, /must be Subscription/],
])('refuses %s with a message', (_what, resource, message) => {
  expect(() => parseSubscription(resource, BASE, false)).toThrow(message);
});

test('http endpoints are taken only when private endpoints are allowed', () => {
  expect(parseSubscription(body({ channel: { endpoint: 'http://127.0.0.1:8080/hooks' } }), BASE, true).endpoint.port).toBe('8080');
});

test('endpoints on loopback, private or link-local addresses are refused unless allowed', async () => {
  for (const url of [
    'https://127.0.0.1/h',
    'https://localhost/h',
    'https://10.0.0.8/h',
    'https://[::1]/h',
    'https://169.254.169.254/latest',
    'https://[::ffff:192.168.1.1]/h',
  ]) {
    expect(await endpointRefusal(new URL(url), false)).toMatch(/loopback, private or link-local/);
    expect(await endpointRefusal(new URL(url), true)).toBeUndefined();
  }
  expect(await endpointRefusal(new URL('https://93.184.216.34/h'), false)).toBeUndefined();
});

test('the rule is patient/Subscription.cruds, outside patient/*, and reads "Notify <app> when your record changes"', () => {
  expect(isRuleScope('patient/Subscription.cruds')).toBe(true);
  expect(parseRecordScope('patient/Subscription.cruds')).toBeUndefined();
  expect(describeScope('patient/Subscription.cruds', 'Weight Tracker')).toBe('Notify Weight Tracker when your record changes');
  expect(describeScopeFor('patient/Subscription.cruds', 'Sam Lee', 'Weight Tracker')).toBe("Notify Weight Tracker when Sam Lee's record changes");
});
