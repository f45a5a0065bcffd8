/**
 * Patient Connect identity codes resume (RFC 8628 device flow, HealthVault's connect requests): a
 * code entered again — in the same browser or another, by the same person or someone else — carries
 * on with the same request at its next step until it is authorized, denied, locked or expired.
 * Every connect step answers its post with 303 to a page that says where the request stands, so
 * reload and Back in Chromium never post again and never contradict (after Allow the page says the
 * clinic is connected, also on reload and Back). The wrong-answer lock holds across browsers
 * answering at once, Allow clicked twice at once authorizes the request once (the device code is
 * approved once), finished codes say what happened and who to ask for a new one, and the
 * clinic's list shows each request's state (pending, opened, authorized, denied, locked, expired).
 */
import fs from 'node:fs';
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import { createModelStore } from '../../src/oidc/store';
import { credentialKey } from '../../src/security/credential-keys';
import { textOf } from '../support/browser';
import { registerTestApp, type TestApp } from '../support/app';
import { launchChromium, type Chromium } from '../support/chromium';
import { signedUpPerson, type SignedUp } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';

let server: TestServer;
let chromium: Chromium;
let clinic: TestApp;

const CLINIC = {
  client_name: 'Lakeside Clinic',
  token_endpoint_auth_method: 'client_secret_basic',
  capabilities: ['connect'],
  rules: [
    { scope: 'patient/Observation.cruds', required: true, reason: 'Send you lab results after each visit' },
    { scope: 'offline_access', required: true, reason: 'Send results while you are away' },
  ],
};
const SCOPE = 'patient/Observation.cruds offline_access';
const QUESTION = 'Which street did you grow up on?';
const USED = 'This code was already used to connect Lakeside Clinic. Ask Lakeside Clinic for a new code.';

beforeAll(async () => {
  [server, chromium] = await Promise.all([startTestServer({ CONNECT_POLL_INTERVAL: '1' }), launchChromium()]);
  clinic = await registerTestApp(server, CLINIC);
});

afterAll(async () => {
  await chromium?.close();
  await server?.stop();
});

let requests = 0;

function connectRequest() {
  requests += 1;
  return oidc.initiateDeviceAuthorization(clinic.config, {
    scope: SCOPE,
    external_id: `LAKE-${Date.now()}-${requests}`,
    friendly_name: 'Ada Lake',
    question: QUESTION,
    answer: 'Maple Grove',
  });
}

const rowOf = (deviceCode: string) =>
  server.db
    .knex('connect_requests')
    .where({ device_code_hash: credentialKey(deviceCode) })
    .first();

async function wrongAnswersOf(deviceCode: string): Promise<number> {
  const row = (await rowOf(deviceCode)) as { id: string };
  const events = await server.db.knex('audit_events').where({ subject: `connect:${row.id}`, kind: 'connect.answer_wrong' });
  return events.length;
}

/** The clinic's list (all states), by external id. */
async function listedStates(since: Date): Promise<Map<string, string>> {
  const token = await oidc.clientCredentialsGrant(clinic.config, { scope: 'connect' });
  const res = await fetch(`${server.issuer}/api/connect/requests?limit=100&since=${encodeURIComponent(since.toISOString())}`, {
    headers: { authorization: `Bearer ${token.access_token}` },
  });
  expect(res.status).toBe(200);
  const { requests: listed } = (await res.json()) as { requests: { external_id: string; status: string; opened_at?: string }[] };
  return new Map(listed.map((request) => [request.external_id, request.status]));
}

async function externalIdOf(deviceCode: string): Promise<string> {
  return ((await rowOf(deviceCode)) as { external_id: string }).external_id;
}

/** The navigations a page makes while `step` runs, as `METHOD path`. */
async function navigationsDuring(page: Page, step: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const listener = (request: { isNavigationRequest(): boolean; method(): string; url(): string }) => {
    if (request.isNavigationRequest()) seen.push(`${request.method()} ${new URL(request.url()).pathname}`);
  };
  page.on('request', listener);
  try {
    await step();
  } finally {
    page.off('request', listener);
  }
  return seen;
}

async function mainText(page: Page): Promise<string> {
  return ((await page.getByRole('main').textContent()) ?? '').replace(/\s+/g, ' ');
}

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations at 1280 px, and horizontal scrolling or small targets at 390 px. */
async function accessibilityProblems(page: Page, label: string): Promise<string[]> {
  const problems: string[] = [];
  const violations = async () => {
    // Through the DevTools protocol: the page's CSP (no inline script) does not apply.
    await page.evaluate(AXE_SOURCE);
    return page.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
      .then((result) => result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id + ': ' + v.help))`) as Promise<
      string[]
    >;
  };
  await page.waitForLoadState('load');
  await page.setViewportSize({ width: 1280, height: 800 });
  for (const violation of await violations()) problems.push(`${label}: ${violation}`);
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
  if (overflow > 0) problems.push(`${label}: ${overflow} px of horizontal scrolling at 390 px`);
  for (const violation of await violations()) if (/color-contrast|target-size/.test(violation)) problems.push(`${label} at 390 px: ${violation}`);
  await page.setViewportSize({ width: 1024, height: 800 });
  return problems;
}

async function signIn(page: Page, who: SignedUp): Promise<void> {
  await page.getByLabel('Email').fill(who.person.email);
  await page.getByLabel('Password').fill(who.person.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

test('Back and reload at every connect step never post again and never contradict; after Allow the page says connected', async () => {
  const request = await connectRequest();
  const who = await signedUpPerson(server, 'Ada Lake');
  const polling = oidc.pollDeviceAuthorizationGrant(clinic.config, request, undefined, { signal: AbortSignal.timeout(90_000) });
  const { page } = await chromium.newPerson();

  // The code page, then sign-in: reload shows sign-in again; Back shows the code page; entering the code again carries on.
  await page.goto(request.verification_uri_complete ?? '');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Password').waitFor();
  expect(await navigationsDuring(page, () => page.reload())).toEqual([expect.stringMatching(/^GET \/interaction\//)]);
  await page.getByLabel('Password').waitFor();
  await page.goBack();
  expect(await page.getByLabel('Identity code').inputValue()).toBe(request.user_code);
  await page.getByRole('button', { name: 'Continue' }).click();
  await signIn(page, who);

  // The question: reload shows it again.
  await page.getByLabel('Answer').waitFor();
  expect(await mainText(page)).toContain(QUESTION);
  expect(await navigationsDuring(page, () => page.reload())).toEqual([expect.stringMatching(/^GET \/interaction\//)]);
  expect(await mainText(page)).toContain(QUESTION);

  // A wrong answer: the question with the tries left; reload neither posts it again nor counts another.
  await page.getByLabel('Answer').fill('Elm Street');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByText('That answer is not right').waitFor();
  expect(await mainText(page)).toContain('2 tries left');
  expect(await navigationsDuring(page, () => page.reload())).toEqual([expect.stringMatching(/^GET \/interaction\//)]);
  expect(await mainText(page)).toContain('2 tries left');
  expect(await wrongAnswersOf(request.device_code)).toBe(1);
  // Back: the question as it was before the wrong answer, still with the tries left.
  expect(await navigationsDuring(page, () => page.goBack())).not.toContainEqual(expect.stringMatching(/^POST/));
  expect(await mainText(page)).toContain('2 tries left');

  // The right answer: consent; reload shows consent again.
  await page.getByLabel('Answer').fill('maple grove');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  expect(await navigationsDuring(page, () => page.reload())).toEqual([expect.stringMatching(/^GET \/interaction\//)]);
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  // Back from consent to the answered question: that step is over, and the page says the request is not finished.
  await page.goBack();
  await page.getByRole('heading', { name: 'Not finished yet' }).waitFor();
  expect(await mainText(page)).toContain('Enter the identity code again to carry on where you left off');
  await page.goForward();
  await page.getByRole('button', { name: 'Allow' }).click();

  // Done: the page says so, on reload and on Back too.
  await page.getByRole('heading', { name: 'Connected' }).waitFor();
  expect(page.url()).toMatch(/\/connect-requests\/[0-9a-f-]{36}$/);
  expect(await mainText(page)).toContain('You connected Lakeside Clinic — see Connected apps.');
  expect(await page.getByRole('link', { name: 'Connected apps' }).last().getAttribute('href')).toBe('/apps');
  expect(await navigationsDuring(page, () => page.reload())).toEqual([expect.stringMatching(/^GET \/connect-requests\//)]);
  expect(await mainText(page)).toContain('You connected Lakeside Clinic — see Connected apps.');
  const back = await navigationsDuring(page, () => page.goBack());
  expect(back).not.toContainEqual(expect.stringMatching(/^POST/));
  await page.getByRole('heading', { name: 'Connected' }).waitFor();
  expect(await mainText(page)).toContain('You connected Lakeside Clinic — see Connected apps.');

  const tokens = await polling;
  expect(tokens.refresh_token).toEqual(expect.any(String));
  // The code entered once more: what happened, and who to ask.
  await page.goto(`${server.issuer}/connect`);
  await page.getByLabel('Identity code').fill(request.user_code);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByText(USED).waitFor();
  expect(page.url()).toMatch(/\/connect\?/);
  expect(await page.getByLabel('Identity code').inputValue()).toBe(request.user_code);
}, 120_000);

test('a code entered in two browsers by different people resumes the same request; a person who answered carries on at consent', async () => {
  const since = new Date(Date.now() - 1000);
  const request = await connectRequest();
  const externalId = await externalIdOf(request.device_code);
  expect((await listedStates(since)).get(externalId)).toBe('pending');
  const [ada, ben] = await Promise.all([signedUpPerson(server, 'Ada Resume'), signedUpPerson(server, 'Ben Resume')]);
  const polling = oidc.pollDeviceAuthorizationGrant(clinic.config, request, undefined, { signal: AbortSignal.timeout(90_000) });

  // Ada enters the code, answers wrongly once, and leaves the page open.
  const first = await chromium.newPerson();
  await first.page.goto(request.verification_uri_complete ?? '');
  await first.page.getByRole('button', { name: 'Continue' }).click();
  await signIn(first.page, ada);
  await first.page.getByLabel('Answer').fill('Elm Street');
  await first.page.getByRole('button', { name: 'Continue' }).click();
  await first.page.getByText('That answer is not right').waitFor();
  expect((await listedStates(since)).get(externalId)).toBe('opened');

  // Ben, in another browser, enters the same code: the same request, the tries left counted across both.
  const second = await chromium.newPerson();
  await second.page.goto(`${server.issuer}/connect`);
  await second.page.getByLabel('Identity code').fill(request.user_code.toLowerCase());
  await second.page.getByRole('button', { name: 'Continue' }).click();
  await signIn(second.page, ben);
  await second.page.getByLabel('Answer').waitFor();
  expect(await mainText(second.page)).toContain(QUESTION);
  expect(await mainText(second.page)).toContain('2 tries left');
  await second.page.getByLabel('Answer').fill('Maple Grove');
  await second.page.getByRole('button', { name: 'Continue' }).click();
  await second.page.getByRole('button', { name: 'Allow' }).waitFor();
  // Ben closes the tab at consent, then enters the code again in a fresh browser: straight to consent.
  await second.context.close();
  const third = await chromium.newPerson();
  await third.page.goto(request.verification_uri_complete ?? '');
  await third.page.getByRole('button', { name: 'Continue' }).click();
  await signIn(third.page, ben);
  await third.page.getByRole('button', { name: 'Allow' }).waitFor();
  expect(await mainText(third.page)).not.toContain(QUESTION);
  await third.page.getByRole('button', { name: 'Allow' }).click();
  await third.page.getByRole('heading', { name: 'Connected' }).waitFor();
  expect(await mainText(third.page)).toContain('You connected Lakeside Clinic — see Connected apps.');
  const tokens = await polling;
  expect(tokens.patient).toBe(ben.record);
  expect((await listedStates(since)).get(externalId)).toBe('authorized');

  // Ada's page, reloaded: the request is over, connected by someone else; her code tells her whom to ask.
  await first.page.reload();
  await first.page.getByRole('heading', { name: 'Code already used' }).waitFor();
  expect(await mainText(first.page)).toContain(USED);
  await first.page.goto(`${server.issuer}/connect`);
  await first.page.getByLabel('Identity code').fill(request.user_code);
  await first.page.getByRole('button', { name: 'Continue' }).click();
  await first.page.getByText(USED).waitFor();
}, 120_000);

test('two browsers answering one request at once: the lock still holds at three wrong answers', async () => {
  const request = await connectRequest();
  const people = await Promise.all([signedUpPerson(server, 'Cy Race'), signedUpPerson(server, 'Di Race')]);
  const questions = await Promise.all(people.map(async (who) => who.browser.submit(await who.browser.visit('/connect'), { user_code: request.user_code })));
  for (const page of questions) expect(textOf(page.html)).toContain(QUESTION);
  // Three wrong answers from each browser, all six at once.
  const posted = await Promise.all(
    questions.flatMap((page, index) =>
      ['wrong one', 'wrong two', 'wrong three'].map((answer) => people[index]?.browser.submit(page, { answer }, '', { follow: false })),
    ),
  );
  for (const answer of posted) expect(answer?.status).toBe(303);
  // Counted per request, in one locked transaction: exactly three, then locked for good.
  expect(await rowOf(request.device_code)).toMatchObject({ status: 'locked', wrong_answers: 3 });
  expect(await wrongAnswersOf(request.device_code)).toBe(3);
  // The right answer now, from either browser's question page, changes nothing.
  for (const [index, who] of people.entries()) {
    const after = await who.browser.submit(questions[index] as (typeof questions)[number], { answer: 'Maple Grove' });
    expect(textOf(after.html)).toContain('This code is locked');
  }
  expect(await rowOf(request.device_code)).toMatchObject({ status: 'locked', wrong_answers: 3, answered_by: null });
  const token = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clinic.clientId}:${clinic.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: request.device_code }).toString(),
  });
  expect(((await token.json()) as { error?: string }).error).toBe('access_denied');
  const again = await people[0]?.browser.submit(await people[0].browser.visit('/connect'), { user_code: request.user_code });
  expect(textOf(again?.html ?? '')).toContain('This code is locked: the secret question was answered wrongly 3 times. Ask Lakeside Clinic for a new code.');
}, 120_000);

test('Allow clicked in two tabs on one request at the same moment: one approval stands, the request is authorized once', async () => {
  const request = await connectRequest();
  const eve = await signedUpPerson(server, 'Eve Race');
  // Eve enters the code and answers in one tab, then enters it again in another: both tabs at consent.
  const question = await eve.browser.submit(await eve.browser.visit('/connect'), { user_code: request.user_code });
  const consents = [await eve.browser.submit(question, { answer: 'Maple Grove' })];
  consents.push(await eve.browser.submit(await eve.browser.visit('/connect'), { user_code: request.user_code }));
  for (const consent of consents) expect(consent.html).toContain('>Allow</button>');
  // Both tabs allow; then both follow to their resume address at once, where the code is approved.
  const allowed = await Promise.all(consents.map((page) => eve.browser.submit(page, { decision: 'allow' }, '/consent', { follow: false })));
  const resumes = allowed.map((res) => new URL(res.headers.get('location') ?? '', server.issuer).toString());
  for (const location of resumes) expect(location).toMatch(/\/connect\/[^/]+$/);
  const answers = await Promise.all(resumes.map((location) => eve.browser.request(location)));
  for (const answer of answers) expect(answer.status).toBe(303);

  const row = (await rowOf(request.device_code)) as { id: string; status: string; record_id: string };
  expect(row).toMatchObject({ status: 'authorized', record_id: eve.record });
  const authorized = await server.db.knex('audit_events').where({ subject: `connect:${row.id}`, kind: 'connect.authorized' });
  expect(authorized).toHaveLength(1);
  const tokens = await oidc.pollDeviceAuthorizationGrant(clinic.config, request, undefined, { signal: AbortSignal.timeout(30_000) });
  expect(tokens.patient).toBe(eve.record);
}, 120_000);

test('a device code is approved once: of two saves under different grants at the same moment, only one is written, and no later save without it', async () => {
  const models = createModelStore(server.db);
  const id = `race-${Date.now()}`;
  await models.upsert({ model: 'DeviceCode', id, payload: {} });
  const written = await Promise.all(['grant-a', 'grant-b'].map((grantId) => models.upsert({ model: 'DeviceCode', id, payload: { grantId }, grantId })));
  expect(written.filter(Boolean)).toHaveLength(1);
  const stored = (await server.db.knex('oidc_models').where({ model: 'DeviceCode', id }).first()) as { grant_id: string };
  expect(stored.grant_id).toBe(written[0] ? 'grant-a' : 'grant-b');
  // A decline racing it (the code saved with an error and no grant) writes nothing either.
  expect(await models.upsert({ model: 'DeviceCode', id, payload: { error: 'access_denied' } })).toBe(false);
  // The approval that stands is saved again (its collection deadline): still written.
  expect(await models.upsert({ model: 'DeviceCode', id, payload: { grantId: stored.grant_id, exp: 1 }, grantId: stored.grant_id })).toBe(true);
});

test("the clinic's list shows each request's state, and finished codes say what happened and whom to ask", async () => {
  const since = new Date(Date.now() - 1000);
  const [pending, opened, authorized, denied, locked, expired] = await Promise.all(Array.from({ length: 6 }, () => connectRequest()));
  const who = await signedUpPerson(server, 'Eve States');
  const enter = async (code: string) => who.browser.submit(await who.browser.visit('/connect'), { user_code: code });

  // Opened: the code entered, nothing answered. The code page posts answer 303, never a page.
  const entered = await who.browser.submit(await who.browser.visit('/connect'), { user_code: opened?.user_code ?? '' }, '', { follow: false });
  expect(entered.status).toBe(303);
  await who.browser.visit(entered.location ?? '');
  // Denied at consent.
  let page = await enter(denied?.user_code ?? '');
  page = await who.browser.submit(page, { answer: 'maple grove' });
  page = await who.browser.submit(page, { decision: 'deny' }, '/consent');
  expect(textOf(page.html)).toContain('connecting Lakeside Clinic was declined. Ask Lakeside Clinic for a new code.');
  // Authorized (after the denial: this consent is asked anew).
  page = await enter(authorized?.user_code ?? '');
  page = await who.browser.submit(page, { answer: 'maple grove' });
  page = await who.browser.submit(page, { decision: 'allow' }, '/consent');
  expect(textOf(page.html)).toContain('You connected Lakeside Clinic — see Connected apps.');
  // Locked.
  page = await enter(locked?.user_code ?? '');
  for (const answer of ['one wrong', 'two wrong', 'three wrong']) page = await who.browser.submit(page, { answer });
  expect(textOf(page.html)).toContain('This code is locked');
  // Expired (the clock moved past its days).
  await server.db
    .knex('connect_requests')
    .where({ device_code_hash: credentialKey(expired?.device_code ?? '') })
    .update({ expires_at: new Date(Date.now() - 1000) });

  const states = await listedStates(since);
  const stateOf = async (request: typeof pending) => states.get(await externalIdOf(request?.device_code ?? ''));
  expect(await stateOf(pending)).toBe('pending');
  expect(await stateOf(opened)).toBe('opened');
  expect(await stateOf(authorized)).toBe('authorized');
  expect(await stateOf(denied)).toBe('denied');
  expect(await stateOf(locked)).toBe('locked');
  expect(await stateOf(expired)).toBe('expired');

  // The filters: `opened` and `pending` are told apart.
  const token = await oidc.clientCredentialsGrant(clinic.config, { scope: 'connect' });
  for (const [status, request] of [
    ['opened', opened],
    ['pending', pending],
  ] as const) {
    const res = await fetch(`${server.issuer}/api/connect/requests?status=${status}&since=${encodeURIComponent(since.toISOString())}`, {
      headers: { authorization: `Bearer ${token.access_token}` },
    });
    const listed = ((await res.json()) as { requests: { external_id: string; status: string; opened_at?: string }[] }).requests;
    // Among this test's requests (an earlier test's may have changed within the same second).
    const mine = new Set(await Promise.all([pending, opened, authorized, denied, locked, expired].map((one) => externalIdOf(one?.device_code ?? ''))));
    const ours = listed.filter((item) => mine.has(item.external_id));
    expect(ours.map((item) => item.external_id)).toEqual([await externalIdOf(request?.device_code ?? '')]);
    expect(ours[0]?.status).toBe(status);
    expect(Boolean(ours[0]?.opened_at)).toBe(status === 'opened');
  }

  // Each finished code, entered again, says what happened and whom to ask — in words, never a bare error.
  expect(textOf((await enter(authorized?.user_code ?? '')).html)).toContain(USED);
  const declined = 'This code was used, and connecting Lakeside Clinic was declined. Ask Lakeside Clinic for a new code.';
  expect(textOf((await enter(denied?.user_code ?? '')).html)).toContain(declined);
  expect(textOf((await enter(locked?.user_code ?? '')).html)).toContain('Ask Lakeside Clinic for a new code.');
  const late = 'This code has expired: it was not used within 28 days. Ask Lakeside Clinic for a new code.';
  expect(textOf((await enter(expired?.user_code ?? '')).html)).toContain(late);
  // The opened one carries on at its question.
  expect(textOf((await enter(opened?.user_code ?? '')).html)).toContain(QUESTION);
  // A request page that does not exist is a page in words, not an error dump.
  const missing = await who.browser.visit('/connect-requests/not-a-request');
  expect(missing.status).toBe(404);
  expect(textOf(missing.html)).toContain('There is no such connect request');
}, 120_000);

test('the connect pages of every state pass axe-core at 1280 and 390 px and work with the keyboard alone', async () => {
  const [open, finished] = [await connectRequest(), await connectRequest()];
  const who = await signedUpPerson(server, 'Kay Board');
  const { page } = await chromium.newPerson();
  const problems: string[] = [];

  // Keyboard only: type the code, Enter; sign in, Enter; a wrong answer, Enter.
  await page.goto(`${server.issuer}/connect`);
  await page.getByLabel('Identity code').focus();
  await page.keyboard.type(open.user_code);
  await page.keyboard.press('Enter');
  await page.getByLabel('Email').focus();
  await page.keyboard.type(who.person.email);
  await page.keyboard.press('Tab');
  await page.keyboard.type(who.person.password);
  await page.keyboard.press('Enter');
  await page.getByLabel('Answer').waitFor();
  // The answer field has the focus when the question comes.
  await page.waitForFunction(() => document.activeElement?.id === 'answer');
  await page.keyboard.type('Elm Street');
  await page.keyboard.press('Enter');
  await page.getByText('That answer is not right').waitFor();
  problems.push(...(await accessibilityProblems(page, 'question after a wrong answer')));

  // A step that is over: the request's page, not finished yet.
  await page.goto(`${server.issuer}/connect-requests/${((await rowOf(open.device_code)) as { id: string }).id}`);
  await page.getByRole('heading', { name: 'Not finished yet' }).waitFor();
  problems.push(...(await accessibilityProblems(page, 'request not finished')));

  // Locked, then the code page saying so.
  await page.goto(finished.verification_uri_complete ?? '');
  await page.getByRole('button', { name: 'Continue' }).press('Enter');
  for (const answer of ['one wrong', 'two wrong', 'three wrong']) {
    await page.getByLabel('Answer').fill(answer);
    await page.getByLabel('Answer').press('Enter');
    if (answer !== 'three wrong') await page.getByText('That answer is not right').waitFor();
  }
  await page.getByRole('heading', { name: 'Code locked' }).waitFor();
  problems.push(...(await accessibilityProblems(page, 'request locked')));
  await page.goto(finished.verification_uri_complete ?? '');
  await page.getByText('This code is locked').waitFor();
  problems.push(...(await accessibilityProblems(page, 'code page of a locked code')));
  expect(problems).toEqual([]);
}, 120_000);
