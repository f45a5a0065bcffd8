/**
 * Change notifications end to end, with a real HTTP receiver on 127.0.0.1: an app with the rule
 * patient/Subscription.cruds subscribes to its person's record; carevault posts the handshake, then
 * a history Bundle with a SubscriptionStatus for each change the app's rules may read — made by
 * another app, by a DOPU pickup — and none for another record or a type outside those rules; a
 * receiver that fails and recovers gets every event, in order; `$status` tells where it stands; two
 * instances deliver each event once; Remove access ends delivery (status off).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { authorizeInBrowser, exchangeCode, newPerson, registerTestApp, startAuthorization, type TestApp } from '../support/app';
import { RECORD_KEEPER, weight } from '../support/authorized';
import { Browser, textOf } from '../support/browser';
import { ANSWER, addChild, clinicApp, reachReview } from '../support/dopu';
import { BACKPORT, CHANGE_WATCHER, fhirCall, notificationsAt as eventsAt, startReceiver, statusOf, subscriptionTo, waitFor } from '../support/notifications';
import { ownRecordOf, startTestServer, type TestServer } from '../support/server';

const ON_POSTGRES = Boolean(loadConfig().databaseUrl);
const METRICS_TOKEN = 'metrics-token-for-tests-0123456789abcdef';
const OVERRIDES = { SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS: 'true', METRICS_ENABLED: 'true', METRICS_TOKEN };

let server: TestServer;
const receiver = startReceiver();
let hooks = '';
let watcher: TestApp;
let watcherToken = '';
let writerToken = '';
let browser: Browser;
let record = '';
let person: ReturnType<typeof newPerson>;

function fhir(token: string, path: string, init: { method?: string; body?: unknown; on?: TestServer } = {}) {
  return fhirCall((init.on ?? server).url, token, path, init);
}

function subscription(path: string, options: { filter?: string; content?: string; header?: string[] } = {}) {
  return subscriptionTo(server.issuer, `${hooks}${path}`, options);
}

const notificationsAt = (path: string) => eventsAt(receiver.received, path);

async function authorize(app: TestApp, scope: string, who: ReturnType<typeof newPerson>, register: boolean): Promise<string> {
  const authorization = await startAuthorization(app, { scope });
  const back = await authorizeInBrowser(browser, authorization.url, who, { register });
  return (await exchangeCode(app, authorization, back.location ?? '')).access_token;
}

async function metric(name: string, status: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  const line = text.split('\n').find((item) => item.startsWith(`${name}{status="${status}"}`));
  return Number(line?.split(' ').at(-1) ?? Number.NaN);
}

beforeAll(async () => {
  hooks = await receiver.start();
  server = await startTestServer(OVERRIDES);
  person = newPerson('Robin Watch');
  browser = new Browser(server.issuer);
  watcher = await registerTestApp(server, CHANGE_WATCHER);
  watcherToken = await authorize(watcher, 'openid patient/Observation.rs patient/Subscription.cruds offline_access', person, true);
  const writer = await registerTestApp(server, RECORD_KEEPER);
  writerToken = await authorize(writer, 'openid patient/Observation.cruds', person, false);
  record = await ownRecordOf(server, person.email);
});

afterAll(async () => {
  await server?.stop();
  await receiver.close();
});

let watching = '';

test('the rule reads "Notify … when your record changes", the CapabilityStatement offers the topic, and a Subscription is refused full resources', async () => {
  expect(textOf((await browser.visit('/apps')).html)).toContain('Notify Change Watcher when your record changes');
  const metadata = (await (await fetch(`${server.url}/fhir/metadata`)).json()) as any;
  const entry = metadata.rest[0].resource.find((item: any) => item.type === 'Subscription');
  expect(entry.extension).toEqual([
    { url: `${BACKPORT}/capabilitystatement-subscriptiontopic-canonical`, valueCanonical: `${server.issuer}/fhir/SubscriptionTopic/record-changed` },
  ]);

  const full = await fhir(watcherToken, '/Subscription', { body: subscription('/full', { content: 'full-resource' }) });
  expect(full.status).toBe(400);
  expect(full.body.resourceType).toBe('OperationOutcome');
  expect(full.body.issue[0].diagnostics).toMatch(/never sends full resources/);
  expect((await fhir(writerToken, '/Subscription', { body: subscription('/writer') })).status).toBe(403);
  const wrongTopic = await fhir(watcherToken, '/Subscription', { body: { ...subscription('/x'), criteria: 'Observation?' } });
  expect(wrongTopic.status).toBe(400);
  const unreadable = await fhir(watcherToken, '/Subscription', { body: subscription('/x', { filter: 'Condition?' }) });
  expect([unreadable.status, unreadable.body.issue[0].diagnostics]).toEqual([
    400,
    'This app may not read Condition resources, so it cannot be notified of them.',
  ]);
  // An id that is not one of carevault's is simply not found, whatever is asked of it.
  for (const method of ['GET', 'PUT', 'DELETE']) {
    const body = method === 'PUT' ? { ...subscription('/x'), id: 'not-an-id' } : undefined;
    expect((await fhir(watcherToken, '/Subscription/not-an-id', { method, body })).status).toBe(404);
  }
  expect((await fhir(watcherToken, '/Subscription/not-an-id/$status')).status).toBe(404);
});

test('a new Subscription gets its handshake with its header, then is active', async () => {
  const created = await fhir(watcherToken, '/Subscription', { body: subscription('/watch', { header: ['X-Hook-Secret: s3cret'] }) });
  expect(created.status).toBe(201);
  expect(created.body.status).toBe('requested');
  watching = created.body.id;
  const handshake = await waitFor('the handshake', () => receiver.received.find((item) => item.path === '/watch'));
  expect(statusOf(handshake.body).type).toBe('handshake');
  expect(handshake.headers['x-hook-secret']).toBe('s3cret');
  expect(handshake.body.type).toBe('history');
  await waitFor('active', async () => (await fhir(watcherToken, `/Subscription/${watching}`)).body.status === 'active');
  const audited = await server.db.knex('audit_events').where({ record_id: record, kind: 'notifications.subscribed' }).first('client_id', 'details');
  expect(audited).toEqual({ client_id: watcher.clientId, details: { subscription: watching } });
  // Only the app's own: the writer app sees none.
  const listed = await fhir(watcherToken, '/Subscription');
  expect(listed.body.entry.map((item: any) => item.resource.id)).toEqual([watching]);
});

test('a change made by another app is notified: a history Bundle naming the resource (id-only)', async () => {
  const created = await fhir(writerToken, '/Observation', { body: weight(71) });
  expect(created.status).toBe(201);
  const [notification] = await waitFor('the notification', () => notificationsAt('/watch').length === 1 && notificationsAt('/watch'));
  const status = statusOf(notification?.body);
  expect(status).toEqual({
    type: 'event-notification',
    status: 'active',
    since: '1',
    events: [{ number: '1', focus: `${server.issuer}/fhir/Observation/${created.body.id}` }],
  });
  expect(notification?.body.entry).toHaveLength(1);
});

test('a DOPU pickup is notified for the types the app may read only, and a change to another record not at all', async () => {
  const clinic = await clinicApp(server, 'Riverside Clinic');
  // First into another record (a child's): nothing for the watcher.
  const child = await addChild(server, browser, 'Sam Watch');
  const elsewhere = await clinic.dropOff();
  const review = await reachReview(browser, elsewhere.pickup_code, ANSWER, child);
  expect((await browser.submit(review, { decision: 'accept' }, '/pickup/finish')).status).toBe(200);
  // Then into the watched record: an Observation, a Condition and a DocumentReference.
  const here = await clinic.dropOff();
  const second = await reachReview(browser, here.pickup_code, ANSWER, record);
  expect((await browser.submit(second, { decision: 'accept' }, '/pickup/finish')).status).toBe(200);
  const observation = (await server.db.knex('resources').where({ record_id: record, type: 'Observation' }).orderBy('last_updated', 'desc').first('id')) as {
    id: string;
  };
  const notifications = await waitFor('the pickup notification', () => notificationsAt('/watch').length >= 2 && notificationsAt('/watch'));
  // A change after the pickup arrives next: nothing came between, not for the child's record, not for the Condition.
  const after = await fhir(writerToken, '/Observation', { body: weight(70) });
  const all = await waitFor('the next notification', () => notificationsAt('/watch').length >= 3 && notificationsAt('/watch'));
  expect(all.map((item) => statusOf(item.body).events[0]?.focus)).toEqual([
    statusOf(notifications[0]?.body).events[0]?.focus,
    `${server.issuer}/fhir/Observation/${observation.id}`,
    `${server.issuer}/fhir/Observation/${after.body.id}`,
  ]);
  expect(all.map((item) => statusOf(item.body).events[0]?.number)).toEqual(['1', '2', '3']);
});

test('a change the person makes (an Import on the record page) is notified', async () => {
  const before = notificationsAt('/watch').length;
  const page = await browser.visit(`/records/${record}`);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '';
  const form = new FormData();
  form.append('_csrf', csrf);
  const file = JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: weight(64) }] });
  form.append('bundle', new Blob([file], { type: 'application/fhir+json' }), 'scale.json');
  const url = `${server.issuer}/records/${record}/import`;
  const res = await fetch(url, { method: 'POST', headers: { cookie: browser.cookiesFor(url), accept: 'text/html' }, body: form, redirect: 'manual' });
  const review = { status: res.status, url, html: await res.text(), location: undefined, headers: res.headers };
  expect(review.status).toBe(200);
  // The review is a rolled-back dry run: nothing is notified for it.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(notificationsAt('/watch')).toHaveLength(before);
  expect((await browser.submit(review, {}, '/import/confirm')).status).toBe(200);
  const imported = (await server.db.knex('resources').where({ record_id: record, type: 'Observation' }).orderBy('last_updated', 'desc').first('id')) as {
    id: string;
  };
  const all = await waitFor('the import notification', () => notificationsAt('/watch').length > before && notificationsAt('/watch'));
  expect(statusOf(all[before]?.body).events).toEqual([{ number: String(before + 1), focus: `${server.issuer}/fhir/Observation/${imported.id}` }]);
});

test('items read from a clinical document are notified: a CCD imported and its items added names each new observation', async () => {
  const before = notificationsAt('/watch').length;
  const earlier = (await server.db.knex('resources').where({ record_id: record, type: 'Observation' }).pluck('id')) as string[];
  const page = await browser.visit(`/records/${record}`);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '';
  const form = new FormData();
  form.append('_csrf', csrf);
  const ccd = fs.readFileSync(path.join(__dirname, '../fixtures/ccda/ccd.xml'));
  form.append('bundle', new Blob([new Uint8Array(ccd)], { type: 'application/xml' }), 'visit.xml');
  const url = `${server.issuer}/records/${record}/import`;
  const res = await fetch(url, { method: 'POST', headers: { cookie: browser.cookiesFor(url), accept: 'text/html' }, body: form, redirect: 'manual' });
  expect(res.status).toBe(303);
  const review = await browser.visit(res.headers.get('location') ?? '');
  await browser.submit(review, {}, '/items');
  const observations = async () => (await server.db.knex('resources').where({ record_id: record, type: 'Observation' }).pluck('id')) as string[];
  const added = (await observations()).filter((id) => !earlier.includes(id));
  const focuses = (notified: typeof receiver.received) =>
    notified.slice(before).flatMap((one) => statusOf(one.body).events.flatMap((event) => (event.focus ? [event.focus] : [])));
  const expected = added.map((id) => `${server.issuer}/fhir/Observation/${id}`);
  expect(expected.length).toBeGreaterThan(0);
  const seen = await waitFor('the items’ notifications', () => {
    const all = focuses(notificationsAt('/watch'));
    return expected.every((focus) => all.includes(focus)) && all;
  });
  // Only types the app may read (Observation here): the document's other items are not named.
  expect(seen.every((focus) => focus.startsWith(`${server.issuer}/fhir/Observation/`))).toBe(true);
});

test('a receiver that fails and recovers gets every event, in order; $status tells the count', async () => {
  const before = notificationsAt('/watch').length;
  receiver.state.failures = 2;
  const ids: string[] = [];
  for (const value of [60, 61, 62]) ids.push((await fhir(writerToken, '/Observation', { body: weight(value) })).body.id);
  const all = await waitFor('three more notifications', () => notificationsAt('/watch').length >= before + 3 && notificationsAt('/watch'));
  expect(receiver.state.refused).toBe(2);
  expect(all.slice(before).map((item) => statusOf(item.body).events[0])).toEqual(
    ids.map((id, index) => ({ number: String(before + 1 + index), focus: `${server.issuer}/fhir/Observation/${id}` })),
  );
  const status = await fhir(watcherToken, `/Subscription/${watching}/$status`);
  expect(status.status).toBe(200);
  expect(statusOf(status.body)).toMatchObject({ type: 'query-status', status: 'active', since: String(before + 3) });
  expect(await metric('carevault_notification_deliveries', 'retried')).toBeGreaterThanOrEqual(2);
  expect(await metric('carevault_notification_deliveries', 'sent')).toBeGreaterThanOrEqual(before + 3);
});

test('a heartbeat comes when asked for and nothing else was sent', async () => {
  const body = subscription('/beat', { filter: 'Observation?' });
  const heartbeat = { url: `${BACKPORT}/backport-heartbeat-period`, valueUnsignedInt: 10 };
  const created = await fhir(watcherToken, '/Subscription', { body: { ...body, channel: { ...body.channel, extension: [heartbeat] } } });
  expect(created.status).toBe(201);
  expect(created.body.channel.extension).toEqual([heartbeat]);
  const beat = await waitFor('a heartbeat', () => receiver.received.find((item) => item.path === '/beat' && statusOf(item.body).type === 'heartbeat'), 25);
  expect(statusOf(beat.body)).toMatchObject({ status: 'active', since: '0', events: [] });
  expect((await fhir(watcherToken, `/Subscription/${created.body.id}`, { method: 'DELETE' })).status).toBe(204);
  expect((await fhir(watcherToken, `/Subscription/${created.body.id}`)).status).toBe(404);
});

test('an endpoint that does not answer holds up only its own Subscription: another app is notified meanwhile', async () => {
  receiver.state.slow.add('/slow');
  const slow = await fhir(watcherToken, '/Subscription', { body: subscription('/slow') });
  expect(slow.status).toBe(201);
  await waitFor('the handshake to the slow endpoint', () => receiver.state.slowPosts > 0);
  const before = notificationsAt('/watch').length;
  const started = Date.now();
  const written = await fhir(writerToken, '/Observation', { body: weight(57) });
  const [notified] = await waitFor(
    'a notification to the other endpoint',
    () => notificationsAt('/watch').length > before && notificationsAt('/watch').slice(before),
  );
  expect(statusOf(notified?.body).events[0]?.focus).toBe(`${server.issuer}/fhir/Observation/${written.body.id}`);
  // Well before the slow endpoint's post gives up (10 seconds): it did not hold this one back.
  expect(Date.now() - started).toBeLessThan(8_000);
  expect((await fhir(watcherToken, `/Subscription/${slow.body.id}`, { method: 'DELETE' })).status).toBe(204);
});

test('an endpoint that keeps failing gets 5 attempts with backoff, then the Subscription is in error and $status says why; put right, it gets what changed meanwhile', async () => {
  receiver.state.down.add('/down');
  const started = Date.now();
  const created = await fhir(watcherToken, '/Subscription', { body: subscription('/down') });
  expect(created.status).toBe(201);
  const status = await waitFor(
    'error',
    async () => {
      const answer = await fhir(watcherToken, `/Subscription/${created.body.id}/$status`);
      return statusOf(answer.body).status === 'error' && answer.body;
    },
    40,
  );
  expect(receiver.state.downPosts).toBe(5);
  // 1 + 2 + 4 + 8 seconds between the attempts.
  expect(Date.now() - started).toBeGreaterThanOrEqual(15_000);
  const error = status.entry[0].resource.parameter.find((item: any) => item.name === 'error');
  expect(error.valueCodeableConcept.text).toBe('Notifications stopped after 5 failed attempts. The endpoint answered 503.');
  expect((await fhir(watcherToken, `/Subscription/${created.body.id}`)).body.status).toBe('error');
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(receiver.state.downPosts).toBe(5);

  // Changes made while it is in error are kept: the endpoint back, a PUT starts it again and they arrive, in order.
  const whileDown: string[] = [];
  for (const value of [55, 56]) whileDown.push((await fhir(writerToken, '/Observation', { body: weight(value) })).body.id);
  receiver.state.down.delete('/down');
  const put = await fhir(watcherToken, `/Subscription/${created.body.id}`, { method: 'PUT', body: { ...subscription('/down'), id: created.body.id } });
  expect(put.status).toBe(200);
  const caughtUp = await waitFor('the changes made while in error', () => notificationsAt('/down').length >= 2 && notificationsAt('/down'));
  expect(caughtUp.map((item) => statusOf(item.body).events[0]?.focus)).toEqual(whileDown.map((id) => `${server.issuer}/fhir/Observation/${id}`));
  expect(receiver.received.some((item) => item.path === '/down' && statusOf(item.body).type === 'handshake')).toBe(true);
  expect((await fhir(watcherToken, `/Subscription/${created.body.id}`)).body.status).toBe('active');
  expect((await fhir(watcherToken, `/Subscription/${created.body.id}`, { method: 'DELETE' })).status).toBe(204);
});

test('two instances deliver each event once (PostgreSQL; the embedded database has one instance)', async () => {
  if (!ON_POSTGRES) {
    await expect(startTestServer(OVERRIDES, server)).rejects.toThrow(/already served by process/);
    return;
  }
  const second = await startTestServer(OVERRIDES, server);
  try {
    const before = notificationsAt('/watch').length;
    for (let index = 0; index < 8; index += 1) {
      expect((await fhir(writerToken, '/Observation', { body: weight(50 + index), on: index % 2 ? second : server })).status).toBe(201);
    }
    await waitFor('eight more notifications', () => notificationsAt('/watch').length >= before + 8);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const numbers = notificationsAt('/watch').map((item) => statusOf(item.body).events[0]?.number);
    expect(numbers).toEqual(numbers.map((_, index) => String(index + 1)));
  } finally {
    await second.stop();
  }
});

/** A change watcher whose rule `scope` is optional. */
function watcherWithOptional(name: string, scope: string): Promise<TestApp> {
  return registerTestApp(server, {
    ...CHANGE_WATCHER,
    client_name: name,
    rules: CHANGE_WATCHER.rules.map((item) => (item.scope === scope ? { ...item, required: false } : item)),
  });
}

/** The person turns `rule` off for `app` on /apps; after a change, the Subscription is off and `path` was sent nothing. */
async function turnOffEndsDelivery(app: TestApp, rule: string, subscriptionId: string, path: string, value: number): Promise<void> {
  const row = await server.db.knex('authorizations').where({ client_id: app.clientId, record_id: record }).whereNull('revoked_at').first('id');
  const apps = await browser.visit('/apps');
  const csrf = /name="_csrf" value="([^"]+)"/.exec(apps.html)?.[1] ?? '';
  expect((await browser.request(`/apps/${row.id}/rules`, { form: { _csrf: csrf, rule } })).status).toBe(303);
  expect((await fhir(writerToken, '/Observation', { body: weight(value) })).status).toBe(201);
  await waitFor('the subscription off', async () => (await server.db.knex('subscriptions').where({ id: subscriptionId }).first('status')).status === 'off');
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(notificationsAt(path)).toEqual([]);
}

test('turning off the Subscription rule on /apps ends delivery too', async () => {
  const optional = await watcherWithOptional('Optional Watcher', 'patient/Subscription.cruds');
  const token = await authorize(optional, 'openid patient/Observation.rs patient/Subscription.cruds offline_access', person, false);
  const created = await fhir(token, '/Subscription', { body: subscription('/trim') });
  expect(created.status).toBe(201);
  await waitFor('the handshake', () => receiver.received.some((item) => item.path === '/trim'));
  await turnOffEndsDelivery(optional, 'patient/Subscription.cruds', created.body.id, '/trim', 98);
});

test('only an app with offline access is notified: without it a Subscription is refused, and turning it off on /apps ends delivery', async () => {
  const away = await watcherWithOptional('Away Watcher', 'offline_access');
  const online = await authorize(away, 'openid patient/Observation.rs patient/Subscription.cruds', person, false);
  const refused = await fhir(online, '/Subscription', { body: subscription('/away') });
  expect(refused.status).toBe(403);
  expect(JSON.stringify(refused.body)).toContain('Only an app with offline access can be notified of changes');

  const offline = await authorize(away, 'openid patient/Observation.rs patient/Subscription.cruds offline_access', person, false);
  const created = await fhir(offline, '/Subscription', { body: subscription('/away') });
  expect(created.status).toBe(201);
  await waitFor('the handshake', () => receiver.received.some((item) => item.path === '/away'));
  await turnOffEndsDelivery(away, 'offline_access', created.body.id, '/away', 97);
});

test('Remove access ends delivery: the subscription goes off and nothing more is sent', async () => {
  const row = await server.db.knex('authorizations').where({ client_id: watcher.clientId, record_id: record }).whereNull('revoked_at').first('id');
  const offBefore = await metric('carevault_notification_subscriptions', 'off');
  const confirm = await browser.visit(`/apps/${row.id}/remove`);
  expect((await browser.submit(confirm, {}, '/remove', { follow: false })).status).toBe(303);
  const before = receiver.received.length;
  expect((await fhir(writerToken, '/Observation', { body: weight(99) })).status).toBe(201);
  await waitFor('the subscription off', async () => (await server.db.knex('subscriptions').where({ id: watching }).first('status')).status === 'off');
  expect(await metric('carevault_notification_subscriptions', 'off')).toBe(offBefore + 1);
  await new Promise((resolve) => setTimeout(resolve, 2500));
  expect(receiver.received.length).toBe(before);
  expect((await fhir(watcherToken, `/Subscription/${watching}`)).status).toBe(401);
});
