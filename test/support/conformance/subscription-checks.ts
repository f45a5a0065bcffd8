/**
 * The checks for the CapabilityStatement's Subscription entry (FHIR R4 Subscriptions, R5 Backport
 * IG): its topic, profile, each interaction and `$status`, each proven with a token of an app that
 * holds the rule patient/Subscription.cruds and offline access. Its endpoint is on a documentation address
 * (TEST-NET-3): public by the address rule, and nothing there answers.
 */
import { CALLBACK } from '../app';
import type { Advertised, Check } from './walk';
import { rule, type Json, type World } from './world';

const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
const ENDPOINT = 'https://203.0.113.10/hooks';

function watcherToken(w: World): Promise<string> {
  return w.memo('token:subscription', async () => {
    const app = await w.app('Conformance Watcher', () => ({
      document: {
        redirect_uris: [CALLBACK],
        token_endpoint_auth_method: 'client_secret_basic',
        rules: [rule('patient/Observation.rs'), rule('patient/Subscription.cruds'), rule('offline_access')],
      },
    }));
    return (await w.codeFlow(app, { scope: 'openid patient/Observation.rs patient/Subscription.cruds offline_access' })).tokens.access_token;
  });
}

function subscriptionBody(w: World, reason = 'Conformance'): Json {
  return {
    resourceType: 'Subscription',
    status: 'requested',
    reason,
    criteria: `${w.fhirBase}/SubscriptionTopic/record-changed`,
    _criteria: { extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: 'Observation?' }] },
    channel: {
      type: 'rest-hook',
      endpoint: ENDPOINT,
      payload: 'application/fhir+json',
      _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: 'id-only' }] },
    },
  };
}

/** A Subscription made for one check, removed after it. */
async function withSubscription(w: World, check: (token: string, created: Json) => Promise<void>): Promise<void> {
  const token = await watcherToken(w);
  const res = await w.fhir(token, 'POST', 'Subscription', subscriptionBody(w));
  expect(res.status).toBe(201);
  const created = (await res.json()) as Json;
  try {
    await check(token, created);
  } finally {
    await w.fhir(token, 'DELETE', `Subscription/${String(created.id)}`);
  }
}

function interactionCheck(w: World, code: string): Check | undefined {
  switch (code) {
    case 'create':
      return () =>
        withSubscription(w, async (_token, created) => {
          expect(created).toMatchObject({ resourceType: 'Subscription', status: 'requested', channel: { endpoint: ENDPOINT } });
        });
    case 'read':
      return () =>
        withSubscription(w, async (token, created) => {
          const read = await w.fhir(token, 'GET', `Subscription/${String(created.id)}`);
          expect(read.status).toBe(200);
          expect(await read.json()).toMatchObject({ id: created.id, criteria: created.criteria });
        });
    case 'update':
      return () =>
        withSubscription(w, async (token, created) => {
          const updated = await w.fhir(token, 'PUT', `Subscription/${String(created.id)}`, { ...subscriptionBody(w, 'Changed'), id: created.id });
          expect(updated.status).toBe(200);
          expect(await updated.json()).toMatchObject({ reason: 'Changed', meta: { versionId: '2' } });
        });
    case 'delete':
      return async () => {
        const token = await watcherToken(w);
        const created = (await (await w.fhir(token, 'POST', 'Subscription', subscriptionBody(w))).json()) as Json;
        expect((await w.fhir(token, 'DELETE', `Subscription/${String(created.id)}`)).status).toBe(204);
        expect((await w.fhir(token, 'GET', `Subscription/${String(created.id)}`)).status).toBe(404);
      };
    case 'search-type':
      return () =>
        withSubscription(w, async (token, created) => {
          const found = (await (await w.fhir(token, 'GET', 'Subscription')).json()) as { type: string; entry: { resource: Json }[] };
          expect(found.type).toBe('searchset');
          expect(found.entry.map((entry) => entry.resource.id)).toContain(created.id);
        });
    default:
      return undefined;
  }
}

/** Every element of the Subscription entry, each with its check (none for an element this walk does not know). */
export function subscriptionItems(w: World, resource: Json): Advertised[] {
  const items: Advertised[] = [];
  const add = (where: string, value: unknown, check: Check | undefined) => items.push({ where, value, check });
  add('Subscription.type', resource.type, async () => {
    expect((await w.fhir(await watcherToken(w), 'GET', 'Subscription')).status).toBe(200);
  });
  for (const extension of (resource.extension as Json[]) ?? []) {
    add(
      'Subscription.extension',
      extension.valueCanonical,
      extension.url === `${BACKPORT}/capabilitystatement-subscriptiontopic-canonical`
        ? async () => {
            expect(extension.valueCanonical).toBe(`${w.fhirBase}/SubscriptionTopic/record-changed`);
            expect((await fetch(String(extension.valueCanonical))).status).toBe(200);
          }
        : undefined,
    );
  }
  for (const profile of (resource.supportedProfile as string[]) ?? []) {
    add('Subscription.supportedProfile', profile, () =>
      withSubscription(w, async (_token, created) => {
        expect((created.meta as { profile: string[] }).profile).toContain(profile);
      }),
    );
  }
  for (const interaction of (resource.interaction as Json[]) ?? [])
    add('Subscription.interaction', interaction.code, interactionCheck(w, String(interaction.code)));
  for (const operation of (resource.operation as Json[]) ?? []) {
    add(
      'Subscription.operation',
      operation.name,
      operation.name === 'status'
        ? () =>
            withSubscription(w, async (token, created) => {
              const res = await w.fhir(token, 'GET', `Subscription/${String(created.id)}/$status`);
              expect(res.status).toBe(200);
              const bundle = (await res.json()) as { entry: { resource: { resourceType: string; parameter: { name: string; valueCode?: string }[] } }[] };
              const status = bundle.entry[0]?.resource;
              expect(status?.resourceType).toBe('Parameters');
              expect(status?.parameter.find((parameter) => parameter.name === 'type')?.valueCode).toBe('query-status');
            })
        : undefined,
    );
  }
  add('Subscription.documentation', resource.documentation, async () => expect(resource.documentation).toEqual(expect.any(String)));
  for (const key of Object.keys(resource)) {
    if (!['type', 'extension', 'supportedProfile', 'interaction', 'operation', 'documentation'].includes(key))
      add(`Subscription.${key}`, resource[key], undefined);
  }
  return items;
}
