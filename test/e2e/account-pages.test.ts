/**
 * The account's pages in Chromium, driven by labels, roles and the keyboard alone: **Forgot
 * password?** from the sign-in page, the recovery form and its answer, the mailed reset link's
 * **New password** form and the page after it, a link that no longer works, the account page with
 * **Send the link again**, and the verification page — each with no serious or critical axe-core
 * violation at 1280 px and usable at 390 px; and the account page itself: **Name** saved, a wrong
 * **Current password** refused, two browser contexts listed under **Signed-in devices**, **Sign out**
 * on the other one and **Sign out everywhere** asking both to sign in again.
 */
import { generate } from 'otplib';
import type { Page } from 'playwright-core';
import { newPerson } from '../support/app';
import { pageProblems, tabTo } from '../support/axe';
import { launchChromium, type Chromium } from '../support/chromium';
import { registerInChromium } from '../support/forms';
import { startTestServer, type TestServer } from '../support/server';
import { mailsIn } from '../support/mail';

let server: TestServer;
let chromium: Chromium;

beforeAll(async () => {
  [server, chromium] = await Promise.all([startTestServer(), launchChromium()]);
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await server?.stop();
});

/** The newest link of a kind mailed to `to` (from the outbox). */
function mailedLink(to: string, kind: 'verify' | 'reset'): string {
  const mails = mailsIn(server.config.dataDir, to);
  const token = new RegExp(`/account/${kind}\\?token=([\\w-]{43})`).exec(mails.at(-1) ?? '')?.[1];
  if (!token) throw new Error(`no ${kind} link mailed to ${to}`);
  return `${server.issuer}/account/${kind}?token=${token}`;
}

/** Types into the field that has the focus, then presses Enter. */
async function typeAndSend(page: Page, text: string): Promise<void> {
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

test('recovery and verification pages pass axe-core, fit 390 px, and work with the keyboard', async () => {
  const problems: string[] = [];
  const person = newPerson('Ada Keys');
  const { page } = await chromium.newPerson({ timeoutMs: 30_000 });

  // Registration (which mails the verification link), then the account page.
  await registerInChromium(page, server.issuer, person);
  await page.getByRole('link', { name: 'Your account' }).click();
  await page.getByRole('button', { name: 'Send the link again' }).waitFor();
  problems.push(...(await pageProblems(page, 'account')));
  expect(await tabTo(page, 'button Send the link again')).toBe(true);
  await page.keyboard.press('Enter');
  await page.getByText(/We sent a link to/).waitFor();

  // The verification link (mailed after the registration was answered), once, then again.
  await server.settled();
  const verify = mailedLink(person.email, 'verify');
  await page.goto(verify);
  await page.getByRole('heading', { name: 'Email confirmed' }).waitFor();
  problems.push(...(await pageProblems(page, 'email confirmed')));
  await page.goto(verify);
  await page.getByRole('heading', { name: 'This link no longer works' }).waitFor();
  problems.push(...(await pageProblems(page, 'link ended')));

  // Signed out: Forgot password? from the sign-in page, by keyboard.
  const { page: away } = await chromium.newPerson({ timeoutMs: 30_000 });
  await away.goto(`${server.issuer}/login`);
  await away.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  expect(await tabTo(away, 'link Forgot password?')).toBe(true);
  await away.keyboard.press('Enter');
  await away.getByLabel('Email').waitFor();
  problems.push(...(await pageProblems(away, 'recover')));
  // The email field has the focus when the page opens.
  await typeAndSend(away, 'not an email');
  await away.getByRole('alert').waitFor();
  problems.push(...(await pageProblems(away, 'recover refused')));
  await away.getByLabel('Email').fill('');
  await away.getByLabel('Email').focus();
  await typeAndSend(away, person.email);
  await away.getByRole('heading', { name: 'Check your email' }).waitFor();
  problems.push(...(await pageProblems(away, 'recover sent')));

  // The reset link: New password, Save password, then the page after it.
  await away.goto(mailedLink(person.email, 'reset'));
  await away.getByLabel('New password').waitFor();
  problems.push(...(await pageProblems(away, 'reset')));
  await typeAndSend(away, 'short');
  await away.getByRole('alert').waitFor();
  problems.push(...(await pageProblems(away, 'reset refused')));
  await away.getByLabel('New password').fill('a much longer password');
  expect(await tabTo(away, 'button Save password')).toBe(true);
  await away.keyboard.press('Enter');
  await away.getByRole('heading', { name: 'Your password is changed' }).waitFor();
  problems.push(...(await pageProblems(away, 'reset done')));

  expect(problems).toEqual([]);
});

test('the account page saves a name, refuses a wrong current password and signs devices out, by keyboard, passing axe-core', async () => {
  const problems: string[] = [];
  const person = newPerson('Kay Devices');
  const { page } = await chromium.newPerson({ timeoutMs: 30_000 });
  await registerInChromium(page, server.issuer, person);

  // A second browser context (another device) signs in too.
  const { page: other } = await chromium.newPerson({ timeoutMs: 30_000 });
  await other.goto(`${server.issuer}/login`);
  await other.getByLabel('Email').fill(person.email);
  await other.getByLabel('Password').fill(person.password);
  await other.getByRole('button', { name: 'Sign in', exact: true }).click();
  await other.getByText(`Hello, ${person.name}`).waitFor();

  await page.goto(`${server.issuer}/account`);
  const devices = page.getByRole('list', { name: 'Signed-in devices' }).getByRole('listitem');
  await page.getByRole('heading', { name: 'Signed-in devices' }).waitFor();
  expect(await devices.count()).toBe(2);
  expect(await devices.first().innerText()).toContain('Chrome on Linux (this device)');
  problems.push(...(await pageProblems(page, 'account')));

  // Name, by keyboard: the status line says it is saved, and the home page greets the new name.
  await page.getByLabel('Name', { exact: true }).fill('Kay Renamed');
  expect(await tabTo(page, 'button Save name')).toBe(true);
  await page.keyboard.press('Enter');
  await page.getByRole('status').getByText('Your name is saved.').waitFor();
  problems.push(...(await pageProblems(page, 'account saved')));

  // A wrong current password is refused in words.
  await page.getByLabel('Current password').fill('not my password');
  await page.getByLabel('New password').fill('a much longer password');
  expect(await tabTo(page, 'button Change password')).toBe(true);
  await page.keyboard.press('Enter');
  await page.getByRole('alert').getByText('Your current password is wrong.').waitFor();
  problems.push(...(await pageProblems(page, 'account refused')));

  // Sign out the other device: it is asked to sign in on its next page.
  const otherDevice = devices.filter({ hasNotText: '(this device)' });
  await otherDevice.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('status').getByText('That device is signed out.').waitFor();
  expect(await devices.count()).toBe(1);
  await other.goto(`${server.issuer}/account`);
  await other.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  expect(new URL(other.url()).pathname).not.toBe('/account');

  // Sign out everywhere, by keyboard: this device is signed out too.
  await other.getByLabel('Email').fill(person.email);
  await other.getByLabel('Password').fill(person.password);
  await other.getByRole('button', { name: 'Sign in', exact: true }).click();
  await other.getByRole('heading', { name: 'Your account' }).waitFor();
  await page.reload();
  expect(await devices.count()).toBe(2);
  expect(await tabTo(page, 'button Sign out everywhere', 60)).toBe(true);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
  problems.push(...(await pageProblems(page, 'signed out')));
  for (const device of [page, other]) {
    await device.goto(`${server.issuer}/account`);
    await device.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  }
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  await page.getByText('Your email is').waitFor();
  expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('Kay Renamed');

  expect(problems).toEqual([]);
});

test('two-step sign-in is set up and used in Chromium with a real authenticator code, its pages passing axe-core', async () => {
  const problems: string[] = [];
  const person = newPerson('Tom Totp');
  const { page } = await chromium.newPerson({ timeoutMs: 30_000 });
  await registerInChromium(page, server.issuer, person);

  await page.goto(`${server.issuer}/account`);
  expect(await tabTo(page, 'button Set up an authenticator app', 80)).toBe(true);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Set up an authenticator app' }).waitFor();
  await page.getByRole('img', { name: 'QR code to scan with your authenticator app' }).locator('svg').waitFor();
  problems.push(...(await pageProblems(page, 'authenticator setup')));
  const secret = (await page.locator('#secret').innerText()).replace(/\s/g, '');
  // The code field has the focus: type the app's code and press Enter.
  await typeAndSend(page, await generate({ secret }));
  await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
  expect(await page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem').count()).toBe(10);
  problems.push(...(await pageProblems(page, 'recovery codes')));

  // Another browser: the password, then the Code page, by keyboard.
  const { page: other } = await chromium.newPerson({ timeoutMs: 30_000 });
  await other.goto(`${server.issuer}/login`);
  await other.getByLabel('Email').fill(person.email);
  await other.getByLabel('Password').fill(person.password);
  await other.getByRole('button', { name: 'Sign in', exact: true }).click();
  await other.getByRole('heading', { name: 'Two-step sign-in' }).waitFor();
  problems.push(...(await pageProblems(other, 'second step')));
  await typeAndSend(other, '000000' === (await generate({ secret })) ? '111111' : '000000');
  await other.getByRole('alert').getByText('That code is not right.', { exact: false }).waitFor();
  problems.push(...(await pageProblems(other, 'second step refused')));
  await other.getByLabel('Code').fill(await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 }));
  await other.getByRole('button', { name: 'Continue' }).click();
  await other.getByText(`Hello, ${person.name}`).waitFor();

  expect(problems).toEqual([]);
});
