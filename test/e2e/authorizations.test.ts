/**
 * Authorization-based records with openid-client as the app: optional rules, records in
 * care, online and offline access, pairwise subjects, remove access, revocation, replay and
 * concurrency, dynamic registration and the history page.
 */
import * as oidc from 'openid-client';
import { Browser, textOf } from '../support/browser';
import { CALLBACK, WEIGHT_TRACKER, authorizeInBrowser, exchangeCode, newPerson, registerTestApp, startAuthorization, type TestApp } from '../support/app';
import { removeAccess } from '../support/people';
import { ownRecordOf, startTestServer, type TestServer, recordIdNamed } from '../support/server';
import { createAccountThrough } from '../support/forms';

const INITIAL_ACCESS_TOKEN = 'initial-access-token-for-tests-0123456789abcdef';

let server: TestServer;
let app: TestApp;

beforeAll(async () => {
  server = await startTestServer({ REGISTRATION_INITIAL_ACCESS_TOKEN: INITIAL_ACCESS_TOKEN, REFRESH_REUSE_GRACE: '1' });
  app = await registerTestApp(server);
});

afterAll(async () => {
  await server?.stop();
});

const ALL_RULES = 'openid fhirUser patient/Observation.rs patient/MedicationStatement.cruds offline_access';

async function registeredPerson(name = 'Jamie Lee') {
  const person = newPerson(name);
  const browser = new Browser(server.issuer);
  let page = await browser.visit('/register');
  page = await createAccountThrough(browser, page, person);
  expect(textOf(page.html)).toContain(`Hello, ${name}`);
  return { person, browser };
}

async function addChild(browser: Browser, name: string, birthDate = '2019-04-23') {
  const page = await browser.visit('/records');
  const after = await browser.submit(page, { name, birth_date: birthDate, relationship: 'child' }, '/records');
  expect(textOf(after.html)).toContain(name);
  return (await recordIdNamed(server, name)) ?? '';
}

async function signOut(browser: Browser) {
  const confirm = await browser.visit('/logout');
  const xsrf = confirm.html.match(/name="xsrf" value="([^"]+)"/)?.[1] ?? '';
  const action = confirm.html.match(/<form[^>]*action="([^"]+)"/)?.[1] ?? '';
  const done = await browser.visit(action, { form: { xsrf, logout: 'yes' } });
  expect(textOf(done.html)).toContain('You are signed out');
}

function scopes(value: string | undefined) {
  return (value ?? '').split(' ').filter(Boolean).sort();
}

async function expectRefused(promise: Promise<unknown>) {
  await expect(promise).rejects.toMatchObject({ error: 'invalid_grant' });
}

test('an unchecked optional rule and a child record: the token holds exactly what was granted, bound to the child', async () => {
  const { person, browser } = await registeredPerson('Dana Whitfield');
  const childId = await addChild(browser, 'Milo Whitfield');
  const authorization = await startAuthorization(app, { scope: ALL_RULES });

  const consent = await browser.visit(authorization.url.toString());
  const text = textOf(consent.html);
  expect(text).toContain('Chart your weight');
  expect(text).toContain('Keep your medicines list');
  // No record is chosen for the person yet: the rules speak of "the chosen record", then of each record's person.
  expect(text).toContain("Read and search the chosen record's observations — vital signs and lab results");
  expect(text).toContain("Read and search Milo Whitfield's observations — vital signs and lab results");
  // Records to choose from, by the record's person.
  expect(consent.html).toMatch(/type="radio"[^>]*name="record"[^>]*value="[^"]+"/);
  expect(text).toContain('Milo Whitfield');

  const back = await authorizeInBrowser(browser, authorization.url, person, {
    record: childId,
    uncheck: ['patient/MedicationStatement.cruds'],
  });
  expect(back.location).toMatch(/^https:\/\/app\.example\/callback\?code=/);
  const tokens = await exchangeCode(app, authorization, back.location ?? '');
  expect(scopes(tokens.scope)).toEqual(['fhirUser', 'offline_access', 'openid', 'patient/Observation.rs']);
  expect(tokens.patient).toBe(childId);
  expect(tokens.claims()?.fhirUser).toBe(`${server.issuer}/fhir/Patient/${childId}`);
  const introspection = await oidc.tokenIntrospection(app.config, tokens.access_token);
  expect(scopes(introspection.scope)).toEqual(['fhirUser', 'offline_access', 'openid', 'patient/Observation.rs']);

  // Offline: the refresh token keeps working after the person signs out.
  await signOut(browser);
  const refreshed = await oidc.refreshTokenGrant(app.config, tokens.refresh_token ?? '');
  expect(refreshed.patient).toBe(childId);
  expect(scopes(refreshed.scope)).toEqual(scopes(tokens.scope));

  // The history of the child's record tells what happened, newest first, to its custodian only.
  const signedIn = new Browser(server.issuer);
  await signedIn.submit(await signedIn.visit('/login'), { email: person.email, password: person.password });
  const history = textOf((await signedIn.visit(`/records/${childId}/history`)).html);
  expect(history).toContain('Dana Whitfield allowed Weight Tracker to reach this record, also while you are away');
  expect(history.indexOf('Weight Tracker renewed its access tokens')).toBeLessThan(history.indexOf('Weight Tracker received access tokens'));
  expect(history.indexOf('Weight Tracker received access tokens')).toBeLessThan(history.indexOf('Dana Whitfield allowed'));
  // With several records the consent page asks again and assumes nothing: no record chosen, every
  // optional rule unticked; what was chosen last time is said, and applied only when asked for.
  const again = await signedIn.visit((await startAuthorization(app, { scope: ALL_RULES })).url.toString());
  expect(again.html).not.toMatch(/name="record" value="[^"]+" checked/);
  expect(again.html).not.toMatch(/name="rules" value="(offline_access|patient\/MedicationStatement.cruds)" checked/);
  expect(textOf(again.html)).toContain("Last time, for Milo Whitfield's record, you allowed keep access while you are away");
  const href = /href="([^"]+\?use=[^"]+)">Use my choices from last time for Milo Whitfield/.exec(again.html)?.[1] ?? '';
  const applied = await signedIn.visit(href);
  expect(applied.html).toMatch(new RegExp(`name="record" value="${childId}" checked`));
  expect(applied.html).toMatch(/name="rules" value="patient\/MedicationStatement.cruds" {2}aria/);
  expect(applied.html).toMatch(/name="rules" value="offline_access" checked/);

  const { browser: stranger } = await registeredPerson('Someone Else');
  expect((await stranger.visit(`/records/${childId}/history`)).status).toBe(404);
});

test('adding someone in care refuses an impossible birth date or relationship and writes nothing', async () => {
  const { browser } = await registeredPerson('Tess Marlow');
  const before = await server.db.knex('records').count({ n: '*' }).first();
  for (const [fields, message] of [
    [{ name: 'Baby', birth_date: '2999-01-01', relationship: 'child' }, 'The birth date cannot be in the future.'],
    [{ name: 'Old', birth_date: '1899-12-31', relationship: 'parent' }, 'Enter a birth date after 1900.'],
    [{ name: 'Nope', birth_date: '2020-02-30', relationship: 'child' }, 'Enter a real date.'],
    [{ name: 'Pet', birth_date: '2020-02-02', relationship: 'dog' }, 'Choose how they are related to you.'],
    [{ name: '', birth_date: '2020-02-02', relationship: 'child' }, 'Enter their name.'],
  ] as const) {
    const page = await browser.submit(await browser.visit('/records'), fields, '/records');
    expect(page.status).toBe(400);
    expect(textOf(page.html)).toContain(message);
  }
  expect(await server.db.knex('records').count({ n: '*' }).first()).toEqual(before);
});

test('one app holds separate authorizations for two records, each bound to its own record', async () => {
  const own = await registerTestApp(server, { ...WEIGHT_TRACKER, client_name: 'Family Scale' });
  const { person, browser } = await registeredPerson('Rene Castillo');
  const childId = await addChild(browser, 'Lia Castillo');
  const ownRecord = await ownRecordOf(server, person.email);

  const first = await startAuthorization(own, { scope: ALL_RULES });
  const forSelf = await exchangeCode(own, first, (await authorizeInBrowser(browser, first.url, person, { record: ownRecord })).location ?? '');
  const second = await startAuthorization(own, { scope: ALL_RULES });
  const forChild = await exchangeCode(own, second, (await authorizeInBrowser(browser, second.url, person, { record: childId })).location ?? '');
  expect(forSelf.patient).toBe(ownRecord);
  expect(forChild.patient).toBe(childId);

  // Both keep working, each on its own record.
  expect((await oidc.refreshTokenGrant(own.config, forSelf.refresh_token ?? '')).patient).toBe(ownRecord);
  expect((await oidc.refreshTokenGrant(own.config, forChild.refresh_token ?? '')).patient).toBe(childId);
  const live = await server.db.knex('authorizations').where({ client_id: own.clientId }).whereNull('revoked_at');
  expect(live.map((row: { record_id: string }) => row.record_id).sort()).toEqual([ownRecord, childId].sort());
  const apps = textOf((await browser.visit('/apps')).html);
  expect(apps.match(/Family Scale/g)).toHaveLength(2);
});

test('declined optional rules are not asked again until prompt=consent; new required rules are', async () => {
  const own = await registerTestApp(server, { ...WEIGHT_TRACKER, client_name: 'Step Counter' });
  const { person, browser } = await registeredPerson('Noor Haddad');

  const first = await startAuthorization(own, { scope: ALL_RULES });
  const back = await authorizeInBrowser(browser, first.url, person, { uncheck: ['patient/MedicationStatement.cruds'] });
  const tokens = await exchangeCode(own, first, back.location ?? '');
  expect(scopes(tokens.scope)).not.toContain('patient/MedicationStatement.cruds');

  // Nothing new is asked: straight back to the app, still without the declined rule.
  const second = await startAuthorization(own, { scope: ALL_RULES });
  const again = await browser.visit(second.url.toString());
  expect(again.location).toMatch(/^https:\/\/app\.example\/callback\?code=/);
  expect(scopes((await exchangeCode(own, second, again.location ?? '')).scope)).not.toContain('patient/MedicationStatement.cruds');

  // prompt=consent asks again, and this time the person allows it.
  const third = await startAuthorization(own, { scope: ALL_RULES, prompt: 'consent' });
  const page = await browser.visit(third.url.toString());
  expect(page.html).toContain('>Allow</button>');
  const allowed = await browser.submit(page, { decision: 'allow' }, '/consent', { check: ['patient/MedicationStatement.cruds'] });
  expect(scopes((await exchangeCode(own, third, allowed.location ?? '')).scope)).toContain('patient/MedicationStatement.cruds');

  // The app's required rules grow: the person is asked again.
  const client = await server.db.knex('oidc_models').where({ model: 'Client', id: own.clientId }).first();
  const rules = [...client.payload.rules, { scope: 'patient/Condition.rs', required: true, reason: 'Know your conditions' }];
  await server.db
    .knex('oidc_models')
    .where({ model: 'Client', id: own.clientId })
    .update({ payload: { ...client.payload, rules, scope: `${client.payload.scope} patient/Condition.rs` } });
  const fourth = await startAuthorization(own, { scope: `${ALL_RULES} patient/Condition.rs` });
  const asked = await browser.visit(fourth.url.toString());
  expect(textOf(asked.html)).toContain('Know your conditions');
});

test('no scope parameter asks for all the app rules; an unregistered scope is invalid_scope', async () => {
  const { person, browser } = await registeredPerson('Ari Stone');
  const authorization = await startAuthorization(app, { scope: '' });
  authorization.url.searchParams.delete('scope');
  authorization.url.searchParams.delete('nonce');
  const page = await browser.visit(authorization.url.toString());
  const text = textOf(page.html);
  for (const reason of ['Chart your weight', 'Keep your medicines list', 'Sync your scale while you are away']) expect(text).toContain(reason);
  const back = await authorizeInBrowser(browser, authorization.url, person);
  const tokens = await oidc.authorizationCodeGrant(app.config, new URL(back.location ?? ''), {
    pkceCodeVerifier: authorization.verifier,
    expectedState: authorization.state,
  });
  expect(scopes(tokens.scope)).toEqual(['offline_access', 'patient/MedicationStatement.cruds', 'patient/Observation.rs']);

  const refused = await startAuthorization(app, { scope: 'openid patient/Condition.rs' });
  const res = await browser.visit(refused.url.toString());
  expect(new URL(res.location ?? '').searchParams.get('error')).toBe('invalid_scope');
});

test('online access ends when the person signs out; no access rule means no refresh token', async () => {
  const online = await registerTestApp(server, {
    client_name: 'Clinic Portal',
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'none',
    rules: [
      { scope: 'patient/Observation.rs', required: true, reason: 'Show your results' },
      { scope: 'online_access', required: true, reason: 'Stay connected while you use it' },
    ],
  });
  const { person, browser } = await registeredPerson('Kim Osei');
  const authorization = await startAuthorization(online, { scope: 'openid patient/Observation.rs online_access' });
  const back = await authorizeInBrowser(browser, authorization.url, person);
  const tokens = await exchangeCode(online, authorization, back.location ?? '');
  expect(tokens.refresh_token).toEqual(expect.any(String));
  const refreshed = await oidc.refreshTokenGrant(online.config, tokens.refresh_token ?? '');
  await signOut(browser);
  await expectRefused(oidc.refreshTokenGrant(online.config, refreshed.refresh_token ?? ''));

  // Signing in again brings the app back without asking again (the authorization stands).
  const again = await startAuthorization(online, { scope: 'openid patient/Observation.rs online_access' });
  const page = await authorizeInBrowser(browser, again.url, person);
  expect(page.location).toMatch(/^https:\/\/app\.example\/callback\?code=/);

  const plain = await registerTestApp(server, { ...WEIGHT_TRACKER, client_name: 'No Refresh', rules: [WEIGHT_TRACKER.rules[0]] });
  const third = await startAuthorization(plain, { scope: 'openid patient/Observation.rs' });
  const done = await authorizeInBrowser(browser, third.url, person);
  expect((await exchangeCode(plain, third, done.location ?? '')).refresh_token).toBeUndefined();
});

test('refresh tokens rotate: of concurrent uses one wins (and at most one retry within the grace); a replayed one ends the authorization', async () => {
  const { person, browser } = await registeredPerson('Lou Grant');
  const authorization = await startAuthorization(app);
  const back = await authorizeInBrowser(browser, authorization.url, person);
  const tokens = await exchangeCode(app, authorization, back.location ?? '');

  const attempts = await Promise.allSettled(Array.from({ length: 5 }, () => oidc.refreshTokenGrant(app.config, tokens.refresh_token ?? '')));
  const winners = attempts
    .filter((attempt) => attempt.status === 'fulfilled')
    .map((attempt) => (attempt as PromiseFulfilledResult<oidc.TokenEndpointResponse>).value);
  // A use within the grace is taken for a retry after a lost response, answered once
  // (reliability-refresh.test.ts); the rest are refused.
  expect(winners.length).toBeGreaterThanOrEqual(1);
  expect(winners.length).toBeLessThanOrEqual(2);
  for (const attempt of attempts) {
    if (attempt.status === 'rejected') expect(attempt.reason).toMatchObject({ error: 'invalid_grant' });
  }
  // Exactly one chain goes on: a retry withdraws the refresh token of the pair it replaced.
  const goesOn: [oidc.TokenEndpointResponse, oidc.TokenEndpointResponse][] = [];
  for (const candidate of winners) {
    const after = await oidc.refreshTokenGrant(app.config, candidate.refresh_token ?? '').catch(() => undefined);
    if (after) goesOn.push([candidate, after]);
  }
  expect(goesOn).toHaveLength(1);
  const [winner, next] = goesOn[0] ?? [];
  if (!winner || !next) throw new Error('no winner of the concurrent refreshes could go on');

  // Replaying a rotated token (after the short grace for racing requests) ends the whole authorization.
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  await expectRefused(oidc.refreshTokenGrant(app.config, winner.refresh_token ?? ''));
  expect((await oidc.tokenIntrospection(app.config, next.access_token)).active).toBe(false);
  await expectRefused(oidc.refreshTokenGrant(app.config, next.refresh_token ?? ''));
  const record = await ownRecordOf(server, person.email);
  expect(await server.db.knex('authorizations').where({ record_id: record }).whereNull('revoked_at')).toHaveLength(0);
});

test('Remove access ends every token of the authorization at once, and the app can ask again', async () => {
  const { person, browser } = await registeredPerson('Pat Quinn');
  const authorization = await startAuthorization(app);
  const back = await authorizeInBrowser(browser, authorization.url, person);
  const tokens = await exchangeCode(app, authorization, back.location ?? '');
  const refreshed = await oidc.refreshTokenGrant(app.config, tokens.refresh_token ?? '');

  const apps = await browser.visit('/apps');
  const text = textOf(apps.html);
  expect(text).toContain('Weight Tracker');
  expect(text).toContain('Read and search your observations — vital signs and lab results');
  expect(text).toContain('Also while you are away (offline)');
  expect(text).toMatch(/last used \d{4}-\d{2}-\d{2}/);
  const after = await removeAccess(browser, apps);
  expect(textOf(after.html)).toContain("Weight Tracker can no longer reach Pat Quinn's record.");
  expect(after.html).not.toContain('>Weight Tracker</h3>');

  for (const token of [tokens.access_token, refreshed.access_token, refreshed.refresh_token ?? '']) {
    expect((await oidc.tokenIntrospection(app.config, token)).active).toBe(false);
  }
  await expectRefused(oidc.refreshTokenGrant(app.config, refreshed.refresh_token ?? ''));

  const record = await ownRecordOf(server, person.email);
  const history = textOf((await browser.visit(`/records/${record}/history`)).html);
  expect(history).toContain("Pat Quinn removed Weight Tracker's access");

  // The app may ask again: the consent page is shown again.
  const again = await startAuthorization(app);
  expect((await browser.visit(again.url.toString())).html).toContain('>Allow</button>');
});

test('an app revoking its refresh token ends its authorization', async () => {
  const { person, browser } = await registeredPerson('Val Moreno');
  const authorization = await startAuthorization(app);
  const back = await authorizeInBrowser(browser, authorization.url, person);
  const tokens = await exchangeCode(app, authorization, back.location ?? '');
  await oidc.tokenRevocation(app.config, tokens.refresh_token ?? '');
  expect((await oidc.tokenIntrospection(app.config, tokens.access_token)).active).toBe(false);
  expect(textOf((await browser.visit('/apps')).html)).not.toContain('Weight Tracker');
  const record = await ownRecordOf(server, person.email);
  expect(textOf((await browser.visit(`/records/${record}/history`)).html)).toContain('Weight Tracker ended its own access');
});

test('each app sees its own stable pairwise sub for the same person', async () => {
  const other = await registerTestApp(server, { ...WEIGHT_TRACKER, client_name: 'Sleep Diary' });
  const { person, browser } = await registeredPerson('Eli Park');
  const subs: string[] = [];
  for (const client of [app, other, app]) {
    const authorization = await startAuthorization(client);
    const back = await authorizeInBrowser(browser, authorization.url, person);
    subs.push((await exchangeCode(client, authorization, back.location ?? '')).claims()?.sub ?? '');
  }
  expect(subs[0]).not.toBe(subs[1]);
  expect(subs[0]).toBe(subs[2]);
  const personRow = await server.db.knex('people').where({ email: person.email }).first();
  expect(subs).not.toContain(personRow.id);
});

test('dynamic registration takes the same document behind the initial access token', async () => {
  const endpoint = `${server.issuer}/oauth/register`;
  const discovery = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  expect(discovery.registration_endpoint).toBe(endpoint);
  const post = (body: unknown, token?: string) =>
    fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });

  expect((await post(WEIGHT_TRACKER)).status).toBe(401);
  const created = await post({ ...WEIGHT_TRACKER, capabilities: ['dopu'] }, INITIAL_ACCESS_TOKEN);
  expect(created.status).toBe(201);
  const client = (await created.json()) as Record<string, unknown>;
  expect(client.client_id).toEqual(expect.any(String));
  expect(String(client.client_secret).length).toBeGreaterThanOrEqual(43);
  expect(client.rules).toEqual(WEIGHT_TRACKER.rules);
  expect(client.capabilities).toEqual(['dopu']);
  expect(client.grant_types).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']));

  const stored = await server.db.knex('oidc_models').where({ model: 'Client', id: client.client_id }).first();
  expect(stored.payload.client_secret).not.toBe(client.client_secret);

  const bad = await post({ ...WEIGHT_TRACKER, rules: [{ scope: 'patient/Foo.rs', required: true, reason: 'x' }] }, INITIAL_ACCESS_TOKEN);
  expect(bad.status).toBe(400);
  const error = (await bad.json()) as Record<string, string>;
  expect(error.error).toBe('invalid_client_metadata');
  expect(error.error_description).toContain('rules[0].scope');
});
