/**
 * The account's pages in Chromium, driven by labels, roles and the keyboard alone: **Forgot
 * password?** from the sign-in page, the recovery form and its answer, the mailed reset link's
 * **New password** form and the page after it, a link that no longer works, the account page with
 * **Send the link again**, and the verification page — each with no serious or critical axe-core
 * violation at 1280 px and usable at 390 px.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { newPerson } from '../support/app';
import { pageProblems, tabTo } from '../support/axe';
import { launchChromium, type Chromium } from '../support/chromium';
import { createAccount } from '../support/forms';
import { startTestServer, type TestServer } from '../support/server';

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
  const outbox = path.join(server.config.dataDir, 'outbox');
  const mails = fs
    .readdirSync(outbox)
    .sort()
    .map((name) =>
      fs
        .readFileSync(path.join(outbox, name), 'utf8')
        .replace(/=\r?\n/g, '')
        .replace(/=3D/g, '='),
    )
    .filter((eml) => eml.includes(`To: ${to}`));
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
  await page.goto(`${server.issuer}/register`);
  await createAccount(page, person);
  await page.getByText(`Hello, ${person.name}`).waitFor();
  await page.getByRole('link', { name: 'Your account' }).click();
  await page.getByRole('button', { name: 'Send the link again' }).waitFor();
  problems.push(...(await pageProblems(page, 'account')));
  expect(await tabTo(page, 'button Send the link again')).toBe(true);
  await page.keyboard.press('Enter');
  await page.getByText(/We sent a link to/).waitFor();

  // The verification link, once, then again.
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
  await away.getByRole('button', { name: 'Sign in' }).waitFor();
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
