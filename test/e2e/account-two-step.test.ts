/**
 * Two-step sign-in, with openid-client playing the app and otplib computing the codes an
 * authenticator app would show (RFC 6238): **Set up an authenticator app** on /account shows a QR
 * code (SVG) and the key, and turns on only with a right code; ten recovery codes are shown once;
 * sign-in then asks for a **Code** after the password; a code is accepted once, a recovery code once,
 * and wrong codes lock the account's second step after 5 (15 minutes). ID tokens carry `amr`
 * (RFC 8176) and `acr`; `acr_values=urn:carevault:acr:2fa` makes a person signed in with the password
 * alone step up; discovery lists `acr_values_supported`. A password reset of such an account asks
 * for the second step (or a recovery code) before the new password counts.
 */
import { generate } from 'otplib';
import { authorizeInBrowser, exchangeCode, registerTestApp, startAuthorization, WEIGHT_TRACKER, type TestApp } from '../support/app';
import { Browser, textOf, type PageResponse } from '../support/browser';
import { signedUpPerson } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';
import { mailsIn } from '../support/mail';

const TWO_STEP = 'urn:carevault:acr:2fa';
const PASSWORD_ONLY = 'urn:carevault:acr:pwd';

let server: TestServer;
let app: TestApp;

beforeAll(async () => {
  server = await startTestServer();
  app = await registerTestApp(server, WEIGHT_TRACKER);
});

afterAll(async () => {
  await server?.stop();
});

function alertOf(page: PageResponse): string {
  return textOf(/<div class="alert" role="alert">([\s\S]*?)<\/div>/.exec(page.html)?.[1] ?? '');
}

/** The code an authenticator app shows `steps` 30-second steps from now. */
function codeAt(secret: string, steps = 0): Promise<string> {
  return generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });
}

/** Turns two-step sign-in on from /account as the person would; the key and the recovery codes shown. */
async function setUp(browser: Browser): Promise<{ secret: string; codes: string[] }> {
  const account = await browser.visit('/account');
  expect(textOf(account.html)).toContain('Two-step sign-in is off.');
  const started = await browser.submit(account, {}, '/account/two-step/app', { follow: false });
  expect(started.status).toBe(303);
  const setup = await browser.visit(started.location ?? '');
  expect(setup.html).toMatch(/<figure class="qr" role="img" aria-label="[^"]+"><svg[^>]*>[\s\S]*<\/svg>/);
  const secret = textOf(/<code id="secret" class="secret">([^<]*)<\/code>/.exec(setup.html)?.[1] ?? '').replace(/\s/g, '');
  expect(secret).toMatch(/^[A-Z2-7]{26,}$/);

  const wrong = await browser.submit(setup, { code: '000000' === (await codeAt(secret)) ? '111111' : '000000' }, '/confirm');
  expect(wrong.status).toBe(400);
  expect(alertOf(wrong)).toContain('That code is not right.');
  expect(textOf((await browser.visit('/account')).html)).toContain('Two-step sign-in is off.');

  const confirmed = await browser.submit(setup, { code: await codeAt(secret) }, '/confirm', { follow: false });
  expect(confirmed.status).toBe(303);
  expect(confirmed.location).toMatch(/\/account\/two-step\/codes$/);
  const shown = await browser.visit(confirmed.location ?? '');
  const codes = [...shown.html.matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)].map(([, code = '']) => code);
  expect(codes).toHaveLength(10);
  expect(new Set(codes).size).toBe(10);
  // Shown once: the same page again lists none.
  const again = await browser.visit('/account/two-step/codes');
  expect(again.html).not.toContain(codes[0]);
  expect(textOf(again.html)).toContain('Recovery codes are shown only once');
  const on = textOf((await browser.visit('/account')).html);
  expect(on).toContain('Two-step sign-in is on');
  expect(on).toContain('You have 10 unused recovery codes left.');
  return { secret, codes };
}

/** Signs in at /login with the password; the page that follows (the code page when two-step is on). */
async function password(email: string, secret: string): Promise<{ browser: Browser; page: PageResponse }> {
  const browser = new Browser(server.issuer);
  return { browser, page: await browser.submit(await browser.visit('/login'), { email, password: secret }) };
}

function isCodePage(page: PageResponse): boolean {
  return page.html.includes('<label for="code">Code</label>') && page.html.includes('/code"');
}

test('discovery lists the authentication context classes', async () => {
  const discovery = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  expect(discovery.acr_values_supported).toEqual([PASSWORD_ONLY, TWO_STEP]);
});

test('set up with a real code; sign-in asks for it after the password; a code and a recovery code work once', async () => {
  const { person, browser } = await signedUpPerson(server, 'Tess Totp');
  const { secret, codes } = await setUp(browser);

  // The password alone no longer signs in: the code page comes, and nobody is signed in yet.
  const first = await password(person.email, person.password);
  expect(first.page.status).toBe(200);
  expect(isCodePage(first.page)).toBe(true);
  expect(textOf((await first.browser.visit('/account')).html)).not.toContain('Two-step sign-in is on');

  const empty = await first.browser.submit(first.page, { code: ' ' }, '/code');
  expect(empty.status).toBe(400);
  expect(alertOf(empty)).toBe('Type the code.');
  const wrong = await first.browser.submit(first.page, { code: '12345x' }, '/code');
  expect(wrong.status).toBe(401);
  expect(alertOf(wrong)).toContain('That code is not right.');

  const next = await codeAt(secret, 1);
  const home = await first.browser.submit(first.page, { code: next }, '/code');
  expect(textOf(home.html)).toContain('Hello, Tess Totp');

  // The same code again, in another browser, is refused: accepted once.
  const replay = await password(person.email, person.password);
  const replayed = await replay.browser.submit(replay.page, { code: next }, '/code');
  expect(replayed.status).toBe(401);
  expect(alertOf(replayed)).toBe('That code was already used. Wait for your authenticator app to show the next one.');

  // A recovery code instead (typed in capitals, without dashes) works, once.
  const recovered = await replay.browser.submit(replay.page, { code: (codes[3] ?? '').replace(/-/g, '').toUpperCase() }, '/code');
  expect(textOf(recovered.html)).toContain('Hello, Tess Totp');
  expect(textOf((await replay.browser.visit('/account')).html)).toContain('You have 9 unused recovery codes left.');
  const reuse = await password(person.email, person.password);
  const reused = await reuse.browser.submit(reuse.page, { code: codes[3] ?? '' }, '/code');
  expect(reused.status).toBe(401);

  // New recovery codes replace the old ones.
  const account = await replay.browser.visit('/account');
  const made = await replay.browser.submit(account, {}, '/account/two-step/recovery-codes');
  const fresh = [...made.html.matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)].map(([, code = '']) => code);
  expect(fresh).toHaveLength(10);
  const old = await reuse.browser.submit(reuse.page, { code: codes[5] ?? '' }, '/code');
  expect(old.status).toBe(401);
  const withFresh = await reuse.browser.submit(reuse.page, { code: fresh[0] ?? '' }, '/code');
  expect(textOf(withFresh.html)).toContain('Hello, Tess Totp');
});

test('a right code alone signs nobody in: without the password in this browser, the code form leads back to the password', async () => {
  const { person, browser } = await signedUpPerson(server, 'Cody Skipper');
  const { codes } = await setUp(browser);
  const stranger = new Browser(server.issuer);
  const signIn = await stranger.visit('/login');
  expect(signIn.html).toContain('/login"');
  // The sign-in form (with its CSRF token) sent to the code step instead, with a recovery code.
  const skipped = await stranger.submit({ ...signIn, html: signIn.html.replace(/\/login"/, '/code"') }, { code: codes[0] ?? '' }, '/code', { follow: false });
  expect(skipped.status).toBe(303);
  expect(skipped.location).toBe(signIn.url);
  const back = await stranger.visit(skipped.location ?? '');
  expect(isCodePage(back)).toBe(false);
  expect(back.html).toContain('/login"');
  expect(textOf((await stranger.visit('/account')).html)).not.toContain(person.name);
  // The code was not spent: the person still has all ten.
  expect(textOf((await browser.visit('/account')).html)).toContain('You have 10 unused recovery codes left.');
});

test('five wrong codes lock the second step for 15 minutes, even for a right code', async () => {
  const { person, browser } = await signedUpPerson(server, 'Liam Lock');
  const { codes } = await setUp(browser);
  const { browser: other, page } = await password(person.email, person.password);
  for (let i = 0; i < 5; i += 1) {
    const wrong = await other.submit(page, { code: `00000${i}` }, '/code');
    expect(wrong.status).toBe(401);
  }
  const locked = await other.submit(page, { code: codes[0] ?? '' }, '/code', { follow: false });
  expect(locked.status).toBe(429);
  expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(alertOf(locked)).toBe('Too many wrong codes for this account. Try again in 15 minutes.');
});

test('ID tokens carry amr and acr; acr_values=urn:carevault:acr:2fa makes a signed-in person step up', async () => {
  const { person, browser } = await signedUpPerson(server, 'Ada Acr');

  // Without two-step sign-in: the password, and asking for the second step changes nothing.
  const plain = await startAuthorization(app, { acr_values: TWO_STEP });
  const plainTokens = await exchangeCode(app, plain, (await authorizeInBrowser(browser, plain.url, person)).location ?? '');
  expect(plainTokens.claims()).toMatchObject({ amr: ['pwd'], acr: PASSWORD_ONLY });

  const { secret, codes } = await setUp(browser);
  // The session is still the password's: an app that does not ask gets it as it is.
  const again = await startAuthorization(app);
  const againTokens = await exchangeCode(app, again, (await authorizeInBrowser(browser, again.url, person)).location ?? '');
  expect(againTokens.claims()).toMatchObject({ amr: ['pwd'], acr: PASSWORD_ONLY });

  // An app that asks for two-step sign-in: the person is asked for the code, not the password.
  const stepUp = await startAuthorization(app, { acr_values: TWO_STEP });
  const asked = await browser.visit(stepUp.url.toString());
  expect(isCodePage(asked)).toBe(true);
  expect(asked.html).not.toContain('>Sign in</button>');
  expect(textOf(asked.html)).toContain('asks you to confirm it is you');
  const answered = await browser.submit(asked, { code: await codeAt(secret, 1) }, '/code');
  const callback = answered.html.includes('>Allow</button>') ? await authorizeInBrowser(browser, stepUp.url, person) : answered;
  const tokens = await exchangeCode(app, stepUp, callback.location ?? '');
  expect(tokens.claims()).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: TWO_STEP });

  // A sign-in from scratch through the app: password, then code.
  const fresh = new Browser(server.issuer);
  const start = await startAuthorization(app, { acr_values: TWO_STEP });
  const signInPage = await fresh.visit(start.url.toString());
  const codePage = await fresh.submit(signInPage, { email: person.email, password: person.password });
  expect(isCodePage(codePage)).toBe(true);
  // The step-up above used the newest code, so this sign-in uses a recovery code.
  // The app was allowed before, so the code leads straight back to it.
  const done = await fresh.submit(codePage, { code: codes[0] ?? '' }, '/code');
  expect(done.location).toMatch(/^https:\/\/app\.example\/callback\?code=/);
  expect((await exchangeCode(app, start, done.location ?? '')).claims()).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: TWO_STEP });
});

/** The reset link of the newest mail to `to`. */
function resetLinkTo(to: string): string {
  const mails = mailsIn(server.config.dataDir, to).filter((eml) => eml.includes('/account/reset?token='));
  const token = /\/account\/reset\?token=([\w-]{43})/.exec(mails.at(-1) ?? '')?.[1];
  if (!token) throw new Error('no reset link in the mail');
  return `/account/reset?token=${token}`;
}

test('a password reset asks for the second step first when two-step sign-in is on', async () => {
  const { person, browser } = await signedUpPerson(server, 'Rita Reset');
  const { codes } = await setUp(browser);
  const stranger = new Browser(server.issuer);
  await stranger.submit(await stranger.visit('/account/recover'), { email: person.email });
  const form = await stranger.visit(resetLinkTo(person.email));
  expect(form.html).toContain('<label for="code">Code</label>');
  const next = 'a brand new long password';

  // The mailbox alone is not enough: without the code, or with a wrong one, the password stays.
  const without = await stranger.submit(form, { password: next }, '/account/reset');
  expect(without.status).toBe(400);
  expect(alertOf(without)).toBe('Type the code your authenticator app shows, or one of your recovery codes.');
  const wrong = await stranger.submit(form, { password: next, code: '000000' }, '/account/reset');
  expect(wrong.status).toBe(401);
  expect(textOf((await password(person.email, next)).page.html)).toContain('The email or password is wrong.');

  // With a recovery code, the new password counts (and the code is used up).
  const saved = await stranger.submit(form, { password: next, code: codes[9] ?? '' }, '/account/reset');
  expect(textOf(saved.html)).toContain('Your password is changed');
  const signedIn = await password(person.email, next);
  expect(isCodePage(signedIn.page)).toBe(true);
  const reused = await signedIn.browser.submit(signedIn.page, { code: codes[9] ?? '' }, '/code');
  expect(reused.status).toBe(401);
});

test('one code sent from two browsers at once signs in only one of them', async () => {
  const { person, browser } = await signedUpPerson(server, 'Rae Race');
  const { secret, codes } = await setUp(browser);
  const code = await codeAt(secret, 1);
  const [a, b] = await Promise.all([password(person.email, person.password), password(person.email, person.password)]);
  const answers = await Promise.all([a.browser.submit(a.page, { code }, '/code'), b.browser.submit(b.page, { code }, '/code')]);
  expect(answers.filter((page) => textOf(page.html).includes('Hello, Rae Race'))).toHaveLength(1);
  expect(answers.filter((page) => page.status === 401)).toHaveLength(1);

  // The same for one recovery code.
  const [c, d] = await Promise.all([password(person.email, person.password), password(person.email, person.password)]);
  const recovery = codes[1] ?? '';
  const recovered = await Promise.all([c.browser.submit(c.page, { code: recovery }, '/code'), d.browser.submit(d.page, { code: recovery }, '/code')]);
  expect(recovered.filter((page) => textOf(page.html).includes('Hello, Rae Race'))).toHaveLength(1);
  expect(recovered.filter((page) => page.status === 401)).toHaveLength(1);
});

test('closing an account with two-step sign-in on asks for the code too: the password alone closes nothing', async () => {
  const { person, browser } = await signedUpPerson(server, 'Cleo Close');
  const { codes } = await setUp(browser);
  const close = await browser.visit('/account/close');
  expect(close.html).toContain('<label for="close-code">Code</label>');

  const passwordOnly = await browser.submit(close, { password: person.password }, '/account/close');
  expect(passwordOnly.status).toBe(401);
  const wrongCode = await browser.submit(await browser.visit('/account/close'), { password: person.password, code: '000000' }, '/account/close');
  expect(wrongCode.status).toBe(401);
  expect(await server.db.knex('people').where({ email: person.email }).first()).toBeDefined();

  const closed = await browser.submit(await browser.visit('/account/close'), { password: person.password, code: codes[0] ?? '' }, '/account/close', {
    follow: false,
  });
  expect(closed.status).toBe(303);
  expect(closed.location).toMatch(/\/account\/closed$/);
  expect(await server.db.knex('people').where({ email: person.email }).first()).toBeUndefined();
});

test('removing the authenticator app takes the password and a current code; with no passkey left two-step sign-in is off and the recovery codes go', async () => {
  const { person, browser } = await signedUpPerson(server, 'Otis Off');
  const { secret, codes } = await setUp(browser);
  const account = await browser.visit('/account');
  expect(account.html).toContain('>Remove the authenticator app</button>');
  const page = await browser.visit('/account/two-step/app/remove');
  expect(page.status).toBe(200);

  const wrongPassword = await browser.submit(page, { password: 'not the password at all', code: await codeAt(secret) }, '/app/remove');
  expect(wrongPassword.status).toBe(401);
  expect(alertOf(wrongPassword)).toBe('That is not your password. Nothing was removed.');
  const wrongCode = await browser.submit(page, { password: person.password, code: '000000' === (await codeAt(secret)) ? '111111' : '000000' }, '/app/remove');
  expect(wrongCode.status).toBe(401);
  expect(alertOf(wrongCode)).toContain('That code is not right.');
  expect(textOf((await browser.visit('/account')).html)).toContain('Two-step sign-in is on');

  const removed = await browser.submit(page, { password: person.password, code: await codeAt(secret, 1) }, '/app/remove');
  const after = textOf(removed.html);
  expect(after).toContain('Two-step sign-in is off: you had no passkey or authenticator app left, so your recovery codes are gone too.');
  expect(after).toContain('Two-step sign-in is off.');
  expect(removed.html).toContain('>Set up an authenticator app</button>');
  const { id } = (await server.db.knex('people').where({ email: person.email }).first('id')) as { id: string };
  const kinds = (
    await server.db
      .knex('audit_events')
      .where({ subject: `person:${id}` })
      .select('kind')
  ).map((row: { kind: string }) => row.kind);
  expect(kinds).toEqual(expect.arrayContaining(['account.authenticator_removed', 'account.two_step_off']));

  // The password alone signs in again, and the old recovery codes are gone with the second step.
  const signIn = await password(person.email, person.password);
  expect(isCodePage(signIn.page)).toBe(false);
  expect(textOf(signIn.page.html)).toContain('Hello, Otis Off');
  expect(await server.db.knex('recovery_codes').where({ person_id: id })).toHaveLength(0);
  expect(codes).toHaveLength(10);
});

test('rotating COOKIE_KEYS (a new key first, the old one kept) and setting KEY_ENCRYPTION_SECRET leave an authenticator app working', async () => {
  const oldKey = 'an-old-cookie-key-of-at-least-32-characters';
  let own = await startTestServer({ COOKIE_KEYS: oldKey });
  try {
    const { person, browser } = await signedUpPerson(own, 'Rory Rotate');
    const { secret } = await setUp(browser);
    own = await own.restart({
      COOKIE_KEYS: `a-new-cookie-key-of-at-least-32-characters,${oldKey}`,
      KEY_ENCRYPTION_SECRET: 'a-key-encryption-secret-of-at-least-32-characters',
    });
    const again = new Browser(own.issuer);
    const page = await again.submit(await again.visit('/login'), { email: person.email, password: person.password });
    expect(isCodePage(page)).toBe(true);
    const home = await again.submit(page, { code: await codeAt(secret, 1) }, '/code');
    expect(textOf(home.html)).toContain('Hello, Rory Rotate');
  } finally {
    await own.stop();
  }
});
