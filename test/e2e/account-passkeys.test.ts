/**
 * Passkeys (WebAuthn) in a real Chromium, whose virtual authenticator (Chrome DevTools Protocol
 * `WebAuthn` domain: CTAP2, internal transport, resident keys, user verification) makes and uses
 * real credentials: **Add a passkey** on /account (named; the first one turns two-step sign-in on
 * and shows recovery codes), **Sign in with a passkey** with no password (the ID token's `amr` says
 * `hwk` or `swk`, its `acr` two-step), the password then **Use a passkey** (`amr` with `mfa`), and
 * **Remove** with the password. Refused: a challenge answered twice, another person's passkey at
 * someone's second step, and an answer made on another origin. The app is openid-client.
 */
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { CALLBACK, exchangeCode, newPerson, registerTestApp, startAuthorization, WEIGHT_TRACKER, type TestApp } from '../support/app';
import { Browser, textOf } from '../support/browser';
import { pageProblems } from '../support/axe';
import { callbackAfter, launchChromium, type Chromium } from '../support/chromium';
import { registerInChromium } from '../support/forms';
import { mailsIn } from '../support/mail';
import { startTestServer, type TestServer } from '../support/server';

const TWO_STEP = 'urn:carevault:acr:2fa';

let server: TestServer;
let chromium: Chromium;
let app: TestApp;

beforeAll(async () => {
  [server, chromium] = await Promise.all([startTestServer(), launchChromium()]);
  app = await registerTestApp(server, WEIGHT_TRACKER);
});

afterAll(async () => {
  await chromium?.close();
  await server?.stop();
});

type Person = ReturnType<typeof newPerson>;
type WithAuthenticator = { context: BrowserContext; page: Page; cdp: CDPSession; authenticatorId: string };

/** A fresh browser with a platform authenticator that holds discoverable credentials and verifies its user. */
async function browserWithAuthenticator(): Promise<WithAuthenticator> {
  const { context, page } = await chromium.newPerson();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { context, page, cdp, authenticatorId };
}

/** Registers the person and adds a passkey named `name` on /account; the recovery codes shown for the first one. */
async function withPasskey(person: Person, name = 'Laptop'): Promise<WithAuthenticator & { codes: string[] }> {
  const held = await browserWithAuthenticator();
  await registerInChromium(held.page, server.issuer, person);
  await held.page.goto(`${server.issuer}/account`);
  await held.page.getByText('Two-step sign-in is off.').waitFor();
  await held.page.getByLabel('Passkey name').fill(name);
  await held.page.getByRole('button', { name: 'Add a passkey' }).click();
  await held.page.waitForURL(/\/account\/two-step\/codes$/);
  const codes = (await held.page.locator('li code').allTextContents()).map((code) => code.trim());
  const { credentials } = await held.cdp.send('WebAuthn.getCredentials', { authenticatorId: held.authenticatorId });
  expect(credentials).toHaveLength(1);
  expect(credentials[0]?.isResidentCredential).toBe(true);
  return { ...held, codes };
}

/** Clicks `button` and, when the consent page comes, Allow; the callback URL the app is sent back to. */
function backAtAppAfter(page: Page, button: string): Promise<string> {
  return callbackAfter(page, async () => {
    const callback = page.waitForRequest((request) => request.url().startsWith(CALLBACK));
    await page.getByRole('button', { name: button, exact: true }).click();
    const allow = page.getByRole('button', { name: 'Allow' });
    const first = await Promise.race([callback.then(() => 'back'), allow.waitFor().then(() => 'consent')]).catch(() => 'back');
    if (first === 'consent') await allow.click();
  });
}

/** The credential's kind in `amr`: a device-bound passkey is a hardware key, a synced one a software key (RFC 8176). */
const PASSKEY_AMR = /^(hwk|swk)$/;

test('a named passkey turns two-step sign-in on, signs in alone (amr hwk/swk, acr two-step), and after the password is the second step (amr mfa)', async () => {
  const person = newPerson('Pia Passkey');
  const { context, page, codes } = await withPasskey(person, 'Work laptop');
  expect(codes).toHaveLength(10);

  await page.goto(`${server.issuer}/account`);
  const account = textOf(await page.content());
  expect(account).toContain('Two-step sign-in is on');
  expect(account).toContain('Work laptop');
  expect(account).toContain('not used yet');
  expect(account).toContain('You have 10 unused recovery codes left.');
  const problems = await pageProblems(page, 'account with a passkey');

  // Signed out, the person signs in to the app with the passkey alone: no email, no password.
  await context.clearCookies();
  const alone = await startAuthorization(app, { acr_values: TWO_STEP });
  await page.goto(alone.url.toString());
  problems.push(...(await pageProblems(page, 'sign-in with a passkey')));
  const allowed = await backAtAppAfter(page, 'Sign in with a passkey');
  const aloneClaims = (await exchangeCode(app, alone, allowed)).claims();
  expect(aloneClaims?.acr).toBe(TWO_STEP);
  const aloneAmr = (aloneClaims?.amr ?? []) as string[];
  expect(aloneAmr).toHaveLength(1);
  expect(aloneAmr[0]).toMatch(PASSKEY_AMR);
  expect(aloneClaims?.email).toBe(person.email);

  await page.goto(`${server.issuer}/account`);
  expect(textOf(await page.content())).toMatch(/Work laptop Added .+, last used /);

  // Signed out again: the password, then Use a passkey instead of a code.
  await context.clearCookies();
  const after = await startAuthorization(app);
  await page.goto(after.url.toString());
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByLabel('Code').waitFor();
  problems.push(...(await pageProblems(page, 'second step with a passkey')));
  const back = await backAtAppAfter(page, 'Use a passkey');
  const afterClaims = (await exchangeCode(app, after, back)).claims();
  expect(afterClaims?.acr).toBe(TWO_STEP);
  const afterAmr = (afterClaims?.amr ?? []) as string[];
  expect(afterAmr).toHaveLength(3);
  expect(afterAmr[0]).toBe('pwd');
  expect(afterAmr[1]).toMatch(PASSKEY_AMR);
  expect(afterAmr[2]).toBe('mfa');
  expect(problems).toEqual([]);

  // A recovery code still works as the second step of a person with passkeys only.
  const browser = new Browser(server.issuer);
  const codePage = await browser.submit(await browser.visit('/login'), { email: person.email, password: person.password });
  expect(codePage.html).toContain('>Use a passkey</button>');
  const home = await browser.submit(codePage, { code: codes[0] ?? '' }, '/code');
  expect(textOf(home.html)).toContain('Hello, Pia Passkey');
});

test('Remove asks for the password; removing the last passkey turns two-step sign-in off, and that passkey signs nobody in', async () => {
  const person = newPerson('Rory Remove');
  const { context, page } = await withPasskey(person, 'Phone');
  await page.goto(`${server.issuer}/account`);
  await page.getByRole('button', { name: 'Remove', exact: true }).click();
  await page.getByText('Remove the passkey Phone?').waitFor();
  expect(await pageProblems(page, 'remove a passkey')).toEqual([]);
  await page.getByLabel('Password').fill('not the password at all');
  await page.getByRole('button', { name: 'Remove passkey' }).click();
  await page.getByText('That is not your password. Nothing was removed.').waitFor();
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Remove passkey' }).click();
  await page.getByText('Two-step sign-in is off: you had no passkey or authenticator app left').waitFor();
  const account = textOf(await page.content());
  expect(account).toContain('You have no passkey yet.');
  expect(account).not.toContain('recovery codes left');

  // The authenticator still holds the credential; carevault no longer knows it.
  await context.clearCookies();
  await page.goto(`${server.issuer}/login`);
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page.getByText('That passkey was not accepted.').waitFor();
  expect(textOf(await page.content())).not.toContain('Hello, Rory Remove');
});

/** The form fields a page's passkey form would send (its CSRF token and where it posts). */
async function passkeyFormOf(page: Page, button: string): Promise<{ action: string; options: string; csrf: string }> {
  const form = page.locator('form[data-passkey]', { has: page.getByRole('button', { name: button }) });
  return {
    action: new URL((await form.getAttribute('action')) ?? '', server.issuer).href,
    options: new URL((await form.getAttribute('data-options')) ?? '', server.issuer).href,
    csrf: (await form.locator('input[name="_csrf"]').inputValue()) ?? '',
  };
}

/** Runs navigator.credentials.get() in `page` with options given by carevault; the answer as JSON text. */
async function assertionIn(page: Page, publicKey: Record<string, unknown>): Promise<string> {
  return page.evaluate(async (options: Record<string, unknown>) => {
    const bytes = (text: string) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
    const text = (buffer: ArrayBuffer) =>
      btoa(String.fromCharCode(...new Uint8Array(buffer)))
        .replace(/\+/g, '-')
        .replace(/\//g, '_')
        .replace(/=+$/, '');
    const credential = (await navigator.credentials.get({
      publicKey: { ...(options as unknown as PublicKeyCredentialRequestOptions), challenge: bytes(options.challenge as string), allowCredentials: [] },
    })) as PublicKeyCredential;
    const response = credential.response as AuthenticatorAssertionResponse;
    return JSON.stringify({
      id: credential.id,
      rawId: text(credential.rawId),
      type: credential.type,
      clientExtensionResults: {},
      response: {
        clientDataJSON: text(response.clientDataJSON),
        authenticatorData: text(response.authenticatorData),
        signature: text(response.signature),
        ...(response.userHandle ? { userHandle: text(response.userHandle) } : {}),
      },
    });
  }, publicKey);
}

test('refused: a challenge answered twice, another person’s passkey at someone’s second step, an answer made on another origin', async () => {
  const owner = newPerson('Olga Owner');
  const held = await withPasskey(owner);

  // Twice: the answer that added a passkey, sent again, finds its challenge used.
  const added = new Promise<string>((resolve) => {
    void held.page.route('**/account/passkeys', async (route) => {
      resolve(route.request().postData() ?? '');
      await route.continue();
    });
  });
  // The authenticator would refuse a second passkey for a person it holds one of (excludeCredentials): it forgets the first.
  await held.cdp.send('WebAuthn.clearCredentials', { authenticatorId: held.authenticatorId });
  await held.page.goto(`${server.issuer}/account`);
  await held.page.getByLabel('Passkey name').fill('Second key');
  await held.page.getByRole('button', { name: 'Add a passkey' }).click();
  const body = await added;
  await held.page.unroute('**/account/passkeys');
  const replayed = await held.page.request.post(`${server.issuer}/account/passkeys`, {
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    data: body,
    maxRedirects: 0,
  });
  expect(replayed.status()).toBe(400);
  expect(textOf(await replayed.text())).toContain('This passkey request has ended or was already used.');

  // Another person's second step, answered with the owner's passkey (their options asked for theirs).
  const other = newPerson('Otto Other');
  const otherHeld = await withPasskey(other, 'Otto key');
  await otherHeld.context.clearCookies();
  await otherHeld.page.goto(`${server.issuer}/login`);
  await otherHeld.page.getByLabel('Email').fill(other.email);
  await otherHeld.page.getByLabel('Password').fill(other.password);
  await otherHeld.page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await otherHeld.page.getByRole('button', { name: 'Use a passkey' }).waitFor();
  const second = await passkeyFormOf(otherHeld.page, 'Use a passkey');
  const options = (await (await otherHeld.page.request.post(second.options, { form: { _csrf: second.csrf } })).json()) as {
    publicKey: Record<string, unknown>;
  };
  expect(options.publicKey.allowCredentials).toHaveLength(1);
  await held.page.goto(`${server.issuer}/login`);
  const ownersAnswer = await assertionIn(held.page, options.publicKey);
  const refused = await otherHeld.page.request.post(second.action, { form: { _csrf: second.csrf, credential: ownersAnswer }, maxRedirects: 0 });
  expect(refused.status()).toBe(401);
  expect(textOf(await refused.text())).toContain('That passkey was not accepted.');

  // An answer made on another origin (same host, another port) for a live challenge of carevault's.
  await held.context.clearCookies();
  await held.page.goto(`${server.issuer}/login`);
  const signIn = await passkeyFormOf(held.page, 'Sign in with a passkey');
  const fresh = (await (await held.page.request.post(signIn.options, { form: { _csrf: signIn.csrf } })).json()) as { publicKey: Record<string, unknown> };
  const elsewhere = `http://localhost:${Number(new URL(server.issuer).port) + 1}/`;
  await held.page.route(elsewhere, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Elsewhere</title>' }));
  await held.page.goto(elsewhere);
  const foreign = await assertionIn(held.page, fresh.publicKey);
  await held.page.goto(`${server.issuer}/login`);
  // Refused like a wrong password: 303 back to the sign-in form, which says why once.
  const fromElsewhere = await held.page.request.post(signIn.action, { form: { _csrf: signIn.csrf, credential: foreign }, maxRedirects: 0 });
  expect(fromElsewhere.status()).toBe(303);
  const told = await held.page.request.get(new URL(fromElsewhere.headers().location ?? '', server.issuer).toString(), { maxRedirects: 0 });
  expect(told.status()).toBe(401);
  expect(textOf(await told.text())).toContain('That passkey was not accepted.');
  // The same browser on carevault's own origin signs the owner in.
  await held.page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await held.page.getByText('Hello, Olga Owner').waitFor();
});

test('a password reset and closing the account take a passkey as the second step', async () => {
  const person = newPerson('Cleo Close');
  const { context, page } = await withPasskey(person, 'Tablet');

  // Reset from the mailed link: the new password counts only with the passkey.
  await context.clearCookies();
  await page.goto(`${server.issuer}/account/recover`);
  await page.getByLabel('Email').fill(person.email);
  await page.getByRole('button', { name: 'Send link' }).click();
  await page.getByRole('heading', { name: 'Check your email' }).waitFor();
  const mail =
    mailsIn(server.config.dataDir, person.email)
      .filter((eml) => eml.includes('/account/reset?token='))
      .at(-1) ?? '';
  const token = /\/account\/reset\?token=([\w-]{43})/.exec(mail)?.[1] ?? '';
  await page.goto(`${server.issuer}/account/reset?token=${token}`);
  const next = 'a new password for Cleo';
  await page.getByLabel('New password').fill(next);
  await page.getByRole('button', { name: 'Save password' }).click();
  await page.getByText('Type the code your authenticator app shows, or one of your recovery codes.').waitFor();
  await page.getByLabel('New password').fill(next);
  await page.getByRole('button', { name: 'Use a passkey' }).click();
  await page.getByRole('heading', { name: 'Your password is changed' }).waitFor();

  // Signed in again with the new password and the passkey, the account closes with the password and the passkey.
  await page.goto(`${server.issuer}/login`);
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(next);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Use a passkey' }).click();
  await page.getByText('Hello, Cleo Close').waitFor();
  await page.goto(`${server.issuer}/account/close`);
  expect(await pageProblems(page, 'close with a passkey')).toEqual([]);
  await page.getByLabel('Password').fill(next);
  await page.getByRole('button', { name: 'Use a passkey' }).click();
  await page.getByRole('heading', { name: 'Your account is closed' }).waitFor();
  expect(await server.db.knex('passkeys').whereIn('person_id', server.db.knex('people').where({ email: person.email }).select('id'))).toHaveLength(0);
  expect(await server.db.knex('people').where({ email: person.email })).toHaveLength(0);
});
