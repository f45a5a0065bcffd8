/**
 * The account page's changes, with openid-client playing the apps and the mails read from the
 * outbox: a new **Name** shows on the home page and in userinfo; **Change password** refuses a wrong
 * current password (and locks after as many as sign-in allows), then the new one signs in and the
 * old one does not, and other devices are signed out; a new **Email** is mailed a link (the old
 * address is told), changes nothing until the link is followed, works once, and is then the email that signs in and that the ID token
 * carries, confirmed; **Signed-in devices** lists each session with its browser, this one marked;
 * **Sign out** ends another device, and **Sign out everywhere** ends every one, so an online app's
 * refresh token fails with invalid_grant while an offline app's still works. Every form answers
 * 303 back to /account, needs its CSRF token, and refuses odd input in words; racing follows of one
 * email change link change the email once.
 */
import * as oidc from 'openid-client';
import { authorizeInBrowser, CLINIC_PORTAL, exchangeCode, registerTestApp, startAuthorization, WEIGHT_TRACKER, type TestApp } from '../support/app';
import { Browser, textOf, type PageResponse } from '../support/browser';
import { signedUpPerson } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';
import { mailsIn } from '../support/mail';

let server: TestServer;
let offline: TestApp;
let online: TestApp;

const FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0';
const SAFARI = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';

beforeAll(async () => {
  server = await startTestServer({ SIGNIN_FAILURES_PER_ACCOUNT: '3' });
  offline = await registerTestApp(server, WEIGHT_TRACKER);
  online = await registerTestApp(server, CLINIC_PORTAL);
});

afterAll(async () => {
  await server?.stop();
});

/** The mails sent to `to`, oldest first (quoted-printable undone). */
function mailsTo(to: string): string[] {
  return mailsIn(server.config.dataDir, to);
}

function verifyLinkIn(mail: string | undefined): string {
  const token = /\/account\/verify\?token=([\w-]{43})/.exec(mail ?? '')?.[1];
  if (!token) throw new Error('no link in the mail');
  return `/account/verify?token=${token}`;
}

function alertOf(page: PageResponse): string {
  return textOf(/<div class="alert" role="alert">([\s\S]*?)<\/div>/.exec(page.html)?.[1] ?? '');
}

function statusOf(page: PageResponse): string {
  return textOf(/<div class="notice" role="status">([\s\S]*?)<\/div>/.exec(page.html)?.[1] ?? '');
}

/** Sends a form of /account and checks its Post/Redirect/Get answer; the page it leads to. */
async function send(browser: Browser, action: string, fields: Record<string, string>): Promise<PageResponse> {
  const account = await browser.visit('/account');
  const answer = await browser.submit(account, fields, action, { follow: false });
  expect(answer.status).toBe(303);
  expect(answer.location).toMatch(/\/account(\?done=[\w-]+)?$/);
  const page = await browser.visit(answer.location ?? '');
  expect(page.headers.get('cache-control')).toBe('no-store');
  return page;
}

/** The sign-out forms of the devices list: each device's text and session. */
function devicesOf(page: PageResponse): { text: string; session: string }[] {
  const list = /<ul class="devices"[^>]*>([\s\S]*?)<\/ul>/.exec(page.html)?.[1] ?? '';
  return [...list.matchAll(/<li>([\s\S]*?)<\/li>/g)].map(([, item = '']) => ({
    text: textOf(item),
    session: /name="session" value="([^"]+)"/.exec(item)?.[1] ?? '',
  }));
}

async function signIn(email: string, password: string, headers: Record<string, string> = {}): Promise<{ browser: Browser; page: PageResponse }> {
  const browser = new Browser(server.issuer, headers);
  return { browser, page: await browser.submit(await browser.visit('/login'), { email, password }) };
}

test('a new name shows on the home page and in userinfo', async () => {
  const { person, browser } = await signedUpPerson(server, 'Nora Oldname');
  const start = await startAuthorization(offline);
  const tokens = await exchangeCode(offline, start, (await authorizeInBrowser(browser, start.url, person)).location ?? '');
  expect(tokens.claims()).toMatchObject({ name: 'Nora Oldname' });

  const saved = await send(browser, '/account/name', { name: '  Nora Newname ' });
  expect(statusOf(saved)).toBe('Your name is saved.');
  expect(saved.html).toContain('value="Nora Newname"');
  expect(textOf((await browser.visit('/')).html)).toContain('Hello, Nora Newname');
  const sub = tokens.claims()?.sub ?? '';
  expect(await oidc.fetchUserInfo(offline.config, tokens.access_token, sub)).toMatchObject({ name: 'Nora Newname' });

  // An empty name is refused in words and changes nothing.
  const empty = await browser.submit(await browser.visit('/account'), { name: '   ' }, '/account/name');
  expect(empty.status).toBe(400);
  expect(alertOf(empty)).toBe('Enter your name.');
  expect(await oidc.fetchUserInfo(offline.config, tokens.access_token, sub)).toMatchObject({ name: 'Nora Newname' });
});

test('a password change needs the current password, is limited like sign-in, and the new one then signs in', async () => {
  const { person, browser } = await signedUpPerson(server, 'Pia Password');
  const account = await browser.visit('/account');
  const next = 'a different long password';

  const wrong = await browser.submit(account, { current: 'not my password', password: next }, '/account/password');
  expect(wrong.status).toBe(401);
  expect(alertOf(wrong)).toBe('Your current password is wrong.');
  const short = await browser.submit(account, { current: person.password, password: 'short' }, '/account/password');
  expect(short.status).toBe(400);
  expect(alertOf(short)).toContain('at least 10 characters');
  const missing = await browser.submit(account, { password: next }, '/account/password');
  expect(missing.status).toBe(400);
  expect(alertOf(missing)).toBe('Enter your current password.');
  // Without the form's CSRF token nothing changes.
  const forged = await browser.visit('/account/password', { form: { current: person.password, password: next } });
  expect(forged.status).toBe(403);
  expect((await signIn(person.email, person.password)).page.status).toBe(200);

  const { browser: phone } = await signIn(person.email, person.password);
  expect((await phone.request('/account')).status).toBe(200);
  const changed = await send(browser, '/account/password', { current: person.password, password: next });
  expect(statusOf(changed)).toBe('Your password is changed. Your other devices are signed out.');
  // The person stays signed in here, and only here; the old password no longer signs in, the new one does.
  expect(textOf(changed.html)).toContain(person.email);
  expect(devicesOf(changed)).toHaveLength(1);
  expect((await phone.request('/account')).location).toMatch(/\/login/);
  expect((await signIn(person.email, person.password)).page.status).toBe(401);
  const fresh = await signIn(person.email, next);
  expect(fresh.page.status).toBe(200);
  expect(textOf(fresh.page.html)).toContain('Hello, Pia Password');

  // Wrong current passwords lock the form (after 3 here, as sign-in's setting says), even for the right one.
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    const guess = await browser.submit(await browser.visit('/account'), { current: `guess ${attempt}`, password: 'yet another password' }, '/account/password');
    expect(guess.status).toBe(401);
  }
  const locked = await browser.submit(await browser.visit('/account'), { current: next, password: 'yet another password' }, '/account/password');
  expect(locked.status).toBe(429);
  expect(locked.headers.get('retry-after')).toMatch(/^\d+$/);
  expect(alertOf(locked)).toContain('Too many wrong passwords');
  // The password did not change; signing in (a limit of its own) still works.
  expect((await signIn(person.email, next)).page.status).toBe(200);
});

test('a new email is mailed a link, the old address is told, and the link changes it once, confirmed', async () => {
  const { person, browser } = await signedUpPerson(server, 'Emil Mover');
  const newEmail = `moved${Date.now()}@example.org`;

  const asked = await send(browser, '/account/email', { email: ` ${newEmail.toUpperCase()} ` });
  expect(statusOf(asked)).toContain('We sent a link to your new email address');
  // Nothing changes before the link is followed.
  expect(textOf(asked.html)).toContain(`Your email is ${person.email}`);
  const [notice] = mailsTo(person.email).filter((mail) => mail.includes('Your carevault email is being changed'));
  expect(notice).toContain(newEmail);
  expect(notice).not.toMatch(/token=/);
  const [mail] = mailsTo(newEmail);
  expect(mail).toContain('Confirm your new email for carevault');
  const link = verifyLinkIn(mail);

  const followed = await new Browser(server.issuer).visit(link);
  expect(followed.status).toBe(200);
  expect(textOf(followed.html)).toContain(`${newEmail} is confirmed`);
  expect((await new Browser(server.issuer).visit(link)).status).toBe(404);
  const account = await browser.visit('/account');
  expect(textOf(account.html)).toContain(`Your email is ${newEmail} (confirmed)`);

  // The new email signs in, the old one no longer; the ID token carries it, confirmed.
  expect((await signIn(person.email, person.password)).page.status).toBe(401);
  const moved = await signIn(newEmail, person.password);
  expect(moved.page.status).toBe(200);
  const start = await startAuthorization(offline);
  const tokens = await exchangeCode(offline, start, (await authorizeInBrowser(moved.browser, start.url, { ...person, email: newEmail })).location ?? '');
  expect(tokens.claims()).toMatchObject({ email: newEmail, email_verified: true });

  // Its own email, or not an email, is refused in words.
  const same = await browser.submit(await browser.visit('/account'), { email: newEmail }, '/account/email');
  expect(same.status).toBe(400);
  expect(alertOf(same)).toBe('That is already your email.');
  const odd = await browser.submit(await browser.visit('/account'), { email: ['a@example.org', 'b@example.org'] }, '/account/email');
  expect(odd.status).toBe(400);
  expect(alertOf(odd)).toContain('Enter an email address');
});

test('an email another account uses gets the same answer, and its link says it is taken', async () => {
  const { browser } = await signedUpPerson(server, 'Tess Taker');
  const { person: other } = await signedUpPerson(server, 'Otto Owner');
  await send(browser, '/account/email', { email: other.email });
  const link = verifyLinkIn(mailsTo(other.email).find((mail) => mail.includes('Confirm your new email')));
  const followed = await new Browser(server.issuer).visit(link);
  expect(followed.status).toBe(409);
  expect(textOf(followed.html)).toContain('Another account now uses this email');
  expect(await server.db.knex('people').whereRaw('lower(email) = lower(?)', [other.email]).select('name')).toEqual([{ name: 'Otto Owner' }]);
  expect(textOf((await browser.visit('/account')).html)).not.toContain(other.email);
});

test('devices are listed with their browser; Sign out ends one, Sign out everywhere ends online access but not offline', async () => {
  const { person, browser: laptop } = await signedUpPerson(server, 'Dev Ices');
  const { browser: phone } = await signIn(person.email, person.password, { 'user-agent': SAFARI });
  const { browser: desktop } = await signIn(person.email, person.password, { 'user-agent': FIREFOX });

  const listed = devicesOf(await laptop.visit('/account'));
  expect(listed).toHaveLength(3);
  expect(listed[0]?.text).toContain('(this device)');
  expect(listed.filter((device) => device.text.includes('(this device)'))).toHaveLength(1);
  expect(listed.map((device) => device.text).join('\n')).toMatch(/Safari on iPhone[\s\S]*Firefox on Windows|Firefox on Windows[\s\S]*Safari on iPhone/);

  // Sign out on the phone, from the laptop: the phone is asked to sign in; the others stay.
  const phoneSession = listed.find((device) => device.text.includes('Safari on iPhone'))?.session ?? '';
  // Two tabs renewing one session at once store it under two ids with one uid: still one device.
  await server.db.knex.raw(
    `insert into oidc_models (model, id, payload, grant_id, user_code, uid, expires_at)
     select model, 'renewed-twice-' || id, payload, grant_id, user_code, uid, expires_at from oidc_models where model = 'Session' and uid = ?`,
    [phoneSession],
  );
  expect(devicesOf(await laptop.visit('/account'))).toHaveLength(3);
  const after = await send(laptop, '/account/devices/sign-out', { session: phoneSession });
  expect(statusOf(after)).toBe('That device is signed out.');
  expect(devicesOf(after)).toHaveLength(2);
  expect(await server.db.knex('oidc_models').where({ model: 'Session', uid: phoneSession })).toEqual([]);
  expect((await phone.request('/account')).location).toMatch(/\/login/);
  expect((await desktop.request('/account')).status).toBe(200);
  // Again, or another person's session, is refused in words.
  const again = await laptop.submit(await laptop.visit('/account'), { session: phoneSession }, '/account/devices/sign-out');
  expect(again.status).toBe(404);
  expect(alertOf(again)).toBe('That device is already signed out.');
  const { browser: stranger } = await signedUpPerson(server, 'Stan Ger');
  const desktopSession = devicesOf(await desktop.visit('/account'))[0]?.session ?? '';
  expect((await stranger.submit(await stranger.visit('/account'), { session: desktopSession }, '/account/devices/sign-out')).status).toBe(404);
  expect((await desktop.request('/account')).status).toBe(200);

  // An online and an offline app, both allowed on the desktop.
  const off = await startAuthorization(offline);
  const offTokens = await exchangeCode(offline, off, (await authorizeInBrowser(desktop, off.url, person)).location ?? '');
  const on = await startAuthorization(online, { scope: 'openid patient/Observation.rs online_access' });
  const onTokens = await exchangeCode(online, on, (await authorizeInBrowser(desktop, on.url, person)).location ?? '');
  expect(onTokens.refresh_token).toEqual(expect.any(String));

  const everywhere = await laptop.submit(await laptop.visit('/account'), {}, '/account/devices/sign-out-everywhere', { follow: false });
  expect(everywhere.status).toBe(303);
  expect(textOf((await laptop.visit(everywhere.location ?? '')).html)).toContain('You are signed out');
  for (const device of [laptop, desktop]) expect((await device.request('/account')).location).toMatch(/\/login/);
  await expect(oidc.refreshTokenGrant(online.config, onTokens.refresh_token ?? '')).rejects.toMatchObject({ error: 'invalid_grant' });
  expect((await oidc.refreshTokenGrant(offline.config, offTokens.refresh_token ?? '')).access_token).toEqual(expect.any(String));
  // Signed out, the forms lead to sign-in.
  expect((await laptop.request('/account/devices/sign-out-everywhere', { method: 'POST' })).location).toMatch(/\/login/);
});

test('racing follows of one email change link: exactly one changes the email', async () => {
  const { person, browser } = await signedUpPerson(server, 'Rita Race');
  const newEmail = `raced${Date.now()}@example.org`;
  await send(browser, '/account/email', { email: newEmail });
  const link = verifyLinkIn(mailsTo(newEmail).at(-1));
  const answers = await Promise.all(Array.from({ length: 4 }, () => new Browser(server.issuer).visit(link)));
  expect(answers.map((answer) => answer.status).sort()).toEqual([200, 404, 404, 404]);
  const { id } = await server.db.knex('people').where({ email: newEmail }).first('id');
  const changed = await server.db.knex('audit_events').where({ kind: 'account.email_changed', subject: `person:${id}` });
  expect(changed).toHaveLength(1);
  expect(await server.db.knex('people').whereRaw('lower(email) = lower(?)', [person.email]).first('id')).toBeUndefined();
});
