/**
 * The person's account, verified and recoverable, with openid-client playing the apps and the
 * mails read from the outbox: registration mails a verification link; `email_verified` in the ID
 * token and userinfo is false before it is followed and true after; the link works once; **Send the
 * link again** is limited. **Forgot password?** answers a known and an unknown email with the same
 * words and the same statements; the reset link works once and for 30 minutes; a reset changes the
 * password, ends the person's sessions and with them an online app's refresh token, while an
 * offline app keeps working and is listed. No mailed token reaches the log.
 */
import * as oidc from 'openid-client';
import { authorizeInBrowser, CLINIC_PORTAL, exchangeCode, registerTestApp, startAuthorization, WEIGHT_TRACKER, type TestApp } from '../support/app';
import { Browser, textOf, type PageResponse } from '../support/browser';
import { captureLogs, type CapturedLogs } from '../support/logs';
import { signedUpPerson } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';
import { statementsOf } from '../support/statements';
import { mailsIn } from '../support/mail';

let server: TestServer;
let offline: TestApp;
let online: TestApp;
let logs: CapturedLogs;
const tokensMailed: string[] = [];

beforeAll(async () => {
  logs = captureLogs();
  server = await startTestServer({ TRUST_PROXY: 'true' });
  offline = await registerTestApp(server, WEIGHT_TRACKER);
  online = await registerTestApp(server, CLINIC_PORTAL);
});

afterAll(async () => {
  // The links are stored as hashes: no mailed token is in the table.
  const stored = JSON.stringify(await server.db.knex('account_links'));
  await server?.stop();
  logs?.stop();
  // Nothing that was mailed — a link's token — was ever written to the log.
  const text = logs?.text() ?? '';
  expect(tokensMailed.length).toBeGreaterThan(0);
  for (const token of tokensMailed) {
    expect(text).not.toContain(token);
    expect(stored).not.toContain(token);
  }
});

/** The mails sent to `to`, oldest first (quoted-printable undone). */
function mailsTo(to: string): string[] {
  return mailsIn(server.config.dataDir, to);
}

/** The newest link of a kind mailed to `to`, as a path, and its token (remembered for the log check). */
function linkIn(to: string, kind: 'verify' | 'reset'): { path: string; token: string } {
  const mail = mailsTo(to).at(-1) ?? '';
  const token = new RegExp(`/account/${kind}\\?token=([\\w-]{43})`).exec(mail)?.[1];
  if (!token) throw new Error(`no ${kind} link mailed to ${to}`);
  tokensMailed.push(token);
  return { path: `/account/${kind}?token=${token}`, token };
}

function alertOf(page: PageResponse): string {
  return textOf(/<div class="alert" role="alert">([\s\S]*?)<\/div>/.exec(page.html)?.[1] ?? '');
}

function browserAt(address: string): Browser {
  return new Browser(server.issuer, { 'x-forwarded-for': address });
}

async function askForLink(address: string, email: string, follow = true): Promise<PageResponse> {
  const browser = browserAt(address);
  const signIn = await browser.visit('/login');
  const recover = await browser.visit(/href="(\/account\/recover)"/.exec(signIn.html)?.[1] ?? 'no Forgot password? link');
  expect(textOf(recover.html)).toContain('Send link');
  return browser.submit(recover, { email }, '/account/recover', { follow });
}

async function signIn(email: string, password: string): Promise<PageResponse> {
  const browser = new Browser(server.issuer);
  return browser.submit(await browser.visit('/login'), { email, password });
}

async function expectInvalidGrant(attempt: Promise<unknown>): Promise<void> {
  await expect(attempt).rejects.toMatchObject({ error: 'invalid_grant' });
}

test('registration mails a link; email_verified is false before it is followed and true after; it works once', async () => {
  const { person, browser } = await signedUpPerson(server, 'Vera Link');
  const first = await startAuthorization(offline);
  const tokens = await exchangeCode(offline, first, (await authorizeInBrowser(browser, first.url, person)).location ?? '');
  expect(tokens.claims()).toMatchObject({ email: person.email, email_verified: false });
  expect(await oidc.fetchUserInfo(offline.config, tokens.access_token, tokens.claims()?.sub ?? '')).toMatchObject({ email_verified: false });

  const [mail] = mailsTo(person.email);
  expect(mail).toContain('Confirm your email for carevault');
  const link = linkIn(person.email, 'verify');
  const account = await browser.visit('/account');
  expect(textOf(account.html)).toContain('not confirmed yet');

  // Followed from any browser (the mail may be opened on another device): confirmed.
  const followed = await new Browser(server.issuer).visit(link.path);
  expect(followed.status).toBe(200);
  expect(textOf(followed.html)).toContain(`${person.email} is confirmed`);
  // Once.
  const again = await new Browser(server.issuer).visit(link.path);
  expect(again.status).toBe(404);
  expect(textOf(again.html)).toContain('already been used or has expired');
  // A made-up token is refused the same way.
  expect((await new Browser(server.issuer).visit(`/account/verify?token=${'A'.repeat(43)}`)).status).toBe(404);

  const second = await startAuthorization(offline);
  const after = await exchangeCode(offline, second, (await authorizeInBrowser(browser, second.url, person)).location ?? '');
  expect(after.claims()).toMatchObject({ email: person.email, email_verified: true });
  expect(await oidc.fetchUserInfo(offline.config, after.access_token, after.claims()?.sub ?? '')).toMatchObject({ email_verified: true });
  const confirmed = await browser.visit('/account');
  expect(textOf(confirmed.html)).toContain('(confirmed)');
  expect(confirmed.html).not.toContain('Send the link again');
});

test('an expired verification link is refused; Send the link again mails a new one, three times an hour', async () => {
  const { person, browser } = await signedUpPerson(server, 'Resa Send');
  const old = linkIn(person.email, 'verify');
  // Time moves through the store: the link's week is over.
  await server.db
    .knex('account_links')
    .where({ purpose: 'verify', email: person.email })
    .update({ expires_at: new Date(Date.now() - 1000) });
  expect((await new Browser(server.issuer).visit(old.path)).status).toBe(404);
  // Swept a day after it ended, not before.
  expect((await server.sweepOnce()).accountLinks).toBe(0);
  await server.db
    .knex('account_links')
    .where({ purpose: 'verify', email: person.email })
    .update({ expires_at: new Date(Date.now() - 25 * 3600_000) });
  expect((await server.sweepOnce()).accountLinks).toBeGreaterThanOrEqual(1);
  expect(await server.db.knex('account_links').where({ purpose: 'verify', email: person.email })).toEqual([]);

  const statuses: number[] = [];
  for (let i = 0; i < 4; i += 1) {
    const account = await browser.visit('/account');
    const answer = await browser.submit(account, {}, '/account/verify/resend', { follow: false });
    statuses.push(answer.status);
    if (answer.status === 429) {
      expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(alertOf(answer)).toContain('3 links in the last hour');
    }
  }
  expect(statuses).toEqual([303, 303, 303, 429]);
  expect(mailsTo(person.email)).toHaveLength(4);
  const fresh = linkIn(person.email, 'verify');
  expect(fresh.token).not.toBe(old.token);
  expect((await new Browser(server.issuer).visit(fresh.path)).status).toBe(200);
});

test('recovery answers a known and an unknown email with the same words and the same statements', async () => {
  const { person } = await signedUpPerson(server, 'Kim Known');
  const unknown = `nobody${Date.now()}@example.org`;

  /** The statements one recovery request ran, and the page it led to. */
  const run = async (address: string, email: string) => {
    const { result: answer, statements } = await statementsOf(server.db, () => askForLink(address, email, false));
    expect(answer.status).toBe(303);
    const page = await browserAt(address).visit(answer.location ?? '');
    return { statements: statements.map((sql) => sql.replace(/\s+/g, ' ').trim()), words: textOf(page.html) };
  };
  const known = await run('192.0.2.31', person.email);
  const nobody = await run('192.0.2.32', unknown);
  expect(known.words).toContain('If an account uses that email, we sent it a link');
  expect(nobody.words).toBe(known.words);
  expect(known.statements.some((sql) => /insert into "account_links"/.test(sql))).toBe(true);
  expect(nobody.statements).toEqual(known.statements);

  // The known email got a link; the unknown one a mail saying no account uses it (and no link).
  expect(mailsTo(person.email).at(-1)).toContain('/account/reset?token=');
  const [told] = mailsTo(unknown);
  expect(told).toContain('no account uses it');
  expect(told).not.toContain('/account/reset');
  // The unknown email's row can never be used: it has no person.
  const rows = await server.db.knex('account_links').where({ email: unknown });
  expect(rows).toEqual([expect.objectContaining({ person_id: null, purpose: 'reset' })]);
  expect(JSON.stringify(rows)).not.toMatch(/token=/);
});

test('recovery is limited per email (known or not, in the same words) and per address', async () => {
  const { person } = await signedUpPerson(server, 'Lim Ited');
  const unknown = `ghost${Date.now()}@example.org`;
  const refusals: string[] = [];
  for (const email of [person.email, unknown]) {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      const answer = await askForLink(`198.51.100.${i + (email === unknown ? 10 : 20)}`, email, false);
      statuses.push(answer.status);
      if (answer.status === 429) refusals.push(alertOf(answer));
    }
    expect(statuses).toEqual([303, 303, 303, 429]);
  }
  expect(refusals[0]).toContain('Too many links were asked for this email');
  expect(refusals[1]).toBe(refusals[0]);

  const statuses: number[] = [];
  for (let i = 0; i < 11; i += 1) statuses.push((await askForLink('203.0.113.40', `spray${i}${Date.now()}@example.org`, false)).status);
  expect(statuses).toEqual([...Array(10).fill(303), 429]);
  // A bad email is told so, and counts nothing.
  const bad = await askForLink('203.0.113.41', 'not an email', false);
  expect(bad.status).toBe(400);
  expect(alertOf(bad)).toContain('Enter an email address');
});

test('a reset works once and for 30 minutes; it changes the password and ends online access while offline access stays', async () => {
  const { person, browser } = await signedUpPerson(server, 'Rae Reset');
  // An offline app and an online one, both authorized in the person's session.
  const off = await startAuthorization(offline);
  const offTokens = await exchangeCode(offline, off, (await authorizeInBrowser(browser, off.url, person)).location ?? '');
  const on = await startAuthorization(online, { scope: 'openid patient/Observation.rs online_access' });
  const onTokens = await exchangeCode(online, on, (await authorizeInBrowser(browser, on.url, person)).location ?? '');
  expect(onTokens.refresh_token).toEqual(expect.any(String));
  // A second browser (another device) is signed in too.
  const phone = new Browser(server.issuer);
  await phone.submit(await phone.visit('/login'), { email: person.email, password: person.password });
  expect(textOf((await phone.visit('/account')).html)).toContain(person.email);

  // A link that expired before use is refused, on the form's page and at saving alike.
  await askForLink('192.0.2.60', person.email);
  const stale = linkIn(person.email, 'reset');
  await server.db
    .knex('account_links')
    .where({ purpose: 'reset', person_id: (await server.db.knex('people').where({ email: person.email }).first('id')).id })
    .update({ expires_at: new Date(Date.now() - 1000) });
  expect((await new Browser(server.issuer).visit(stale.path)).status).toBe(404);
  const formBefore = await server.db.knex('account_links').whereNotNull('used_at').count({ n: '*' });

  await askForLink('192.0.2.61', person.email);
  const link = linkIn(person.email, 'reset');
  const stranger = new Browser(server.issuer);
  const form = await stranger.visit(link.path);
  expect(form.status).toBe(200);
  expect(textOf(form.html)).toContain('New password');
  expect((await stranger.submit(form, { token: stale.token, password: 'a brand new password' }, '/account/reset')).status).toBe(404);
  expect(await server.db.knex('account_links').whereNotNull('used_at').count({ n: '*' })).toEqual(formBefore);

  // Too short: told so, the link still works.
  const short = await stranger.submit(form, { password: 'short' }, '/account/reset');
  expect(short.status).toBe(400);
  expect(alertOf(short)).toContain('at least 10 characters');

  const newPassword = 'a brand new password';
  const saved = await stranger.submit(form, { password: newPassword }, '/account/reset', { follow: false });
  expect(saved.status).toBe(303);
  const done = await stranger.visit(saved.location ?? '');
  expect(textOf(done.html)).toContain('You are signed out everywhere');
  expect(textOf(done.html)).toContain('Weight Tracker');
  expect(textOf(done.html)).not.toContain('Clinic Portal');
  expect(done.html).toContain('href="/apps"');

  // The link works once.
  expect((await new Browser(server.issuer).visit(link.path)).status).toBe(404);
  expect((await stranger.submit(form, { password: 'yet another password' }, '/account/reset')).status).toBe(404);

  // Every session ended: both browsers are signed out.
  for (const device of [browser, phone]) expect((await device.request('/account')).location).toMatch(/\/login/);
  // The online app's refresh token ended with the sessions; the offline app's still works.
  await expectInvalidGrant(oidc.refreshTokenGrant(online.config, onTokens.refresh_token ?? ''));
  const refreshed = await oidc.refreshTokenGrant(offline.config, offTokens.refresh_token ?? '');
  expect(refreshed.access_token).toEqual(expect.any(String));

  // The old password is refused, the new one accepted.
  expect((await signIn(person.email, person.password)).status).toBe(401);
  const home = await signIn(person.email, newPassword);
  expect(home.status).toBe(200);
  expect(textOf(home.html)).toContain('Hello, Rae Reset');
});

test('racing uses of one link: exactly one wins', async () => {
  const { person } = await signedUpPerson(server, 'Ray Singleuse');
  const verify = linkIn(person.email, 'verify');
  const verified = await Promise.all(Array.from({ length: 4 }, () => new Browser(server.issuer).request(verify.path)));
  expect(verified.map((page) => page.status).sort()).toEqual([200, 404, 404, 404]);

  await askForLink('192.0.2.80', person.email);
  const reset = linkIn(person.email, 'reset');
  const forms = await Promise.all(
    Array.from({ length: 4 }, async () => {
      const browser = new Browser(server.issuer);
      return { browser, form: await browser.visit(reset.path) };
    }),
  );
  const saved = await Promise.all(
    forms.map(({ browser, form }, i) => browser.submit(form, { password: `racing password number ${i}` }, '/account/reset', { follow: false })),
  );
  expect(saved.map((page) => page.status).sort()).toEqual([303, 404, 404, 404]);
  const winner = saved.findIndex((page) => page.status === 303);
  expect((await signIn(person.email, `racing password number ${winner}`)).status).toBe(200);
});

test('odd input to the account pages is refused in words, never a 500', async () => {
  const browser = new Browser(server.issuer);
  for (const target of [
    '/account/verify',
    '/account/verify?token=',
    `/account/verify?token=${'x'.repeat(5000)}`,
    '/account/verify?token=a&token=b',
    '/account/reset?token[]=a',
  ]) {
    const page = await browser.request(target);
    expect([target, page.status]).toEqual([target, 404]);
    expect(textOf(page.html)).toContain('already been used or has expired');
  }
  const form = await browser.visit('/account/recover');
  // Without the form's CSRF token: refused.
  expect((await browser.request('/account/recover', { form: { email: 'a@example.org' } })).status).toBe(403);
  const odd = await browser.submit(form, { email: ['a@example.org', 'b@example.org'] }, '/account/recover', { follow: false });
  expect(odd.status).toBe(400);
  const resetPost = await browser.request('/account/reset', {
    form: { _csrf: /name="_csrf" value="([^"]+)"/.exec(form.html)?.[1] ?? '', token: ['x', 'y'], password: 'long enough password' },
  });
  expect(resetPost.status).toBe(404);
});

test('a person the reset page does not know is sent to their apps in general', async () => {
  const done = await new Browser(server.issuer).visit('/account/reset/done');
  expect(done.status).toBe(200);
  expect(done.html).toContain('href="/apps"');
  const signInPage = await new Browser(server.issuer).visit('/login');
  expect(signInPage.html).toContain('Forgot password?');
  // An unknown person is asked to sign in before the account page.
  expect((await new Browser(server.issuer).request('/account')).status).toBe(303);
});
