/**
 * Sharing a record, as people click through it in headless Chromium: the owner's **Share this
 * record** and **Send invitation**; the invitee opens the mailed link, creates an account there and
 * comes back to it, reads who shares which record with what access, and presses **Accept**; the
 * record is theirs to read, with View only's controls hidden; **Leave** asks first. Every sharing
 * page, and the consent page of a View only record, has no serious accessibility problem (axe).
 */
import { newPerson, registerTestApp, startAuthorization, WEIGHT_TRACKER } from '../support/app';
import { pageProblems } from '../support/axe';
import { launchChromium, type Chromium } from '../support/chromium';
import { createAccount, registerInChromium } from '../support/forms';
import { mailsIn } from '../support/mail';
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

test('an invitation by mail, accepted by a new account; View only reads; Leave asks first; every page is accessible (Chromium)', async () => {
  const problems: string[] = [];
  const owner = newPerson('Sam Sharer');
  const invitee = newPerson('Alex Invitee');

  // The owner shares their record.
  const { page: ownerPage } = await chromium.newPerson();
  await registerInChromium(ownerPage, server.issuer, owner);
  await ownerPage.goto(`${server.issuer}/records`);
  await ownerPage.getByRole('link', { name: 'Sam Sharer', exact: true }).click();
  await ownerPage.getByRole('link', { name: 'Share this record' }).click();
  await ownerPage.getByRole('heading', { level: 1, name: "Share Sam Sharer's record" }).waitFor();
  problems.push(...(await pageProblems(ownerPage, 'sharing page')));
  await ownerPage.getByLabel('Email', { exact: true }).fill(invitee.email);
  await ownerPage.getByLabel('Access', { exact: true }).selectOption({ label: 'View only' });
  await ownerPage.getByLabel('Expires').fill('2099-03-01');
  await ownerPage.getByRole('button', { name: 'Send invitation' }).click();
  await ownerPage
    .getByRole('status')
    .filter({ hasText: `Invitation sent to ${invitee.email}` })
    .waitFor();
  expect(await ownerPage.getByText(`${invitee.email} · View only, until 1 March 2099`).count()).toBe(1);
  problems.push(...(await pageProblems(ownerPage, 'sharing page with an invitation')));

  // The invitee follows the mailed link, creates an account on the way, and comes back to it.
  const mail = mailsIn(server.config.dataDir, invitee.email).at(-1) ?? '';
  const link = /https?:\/\/[^\s]+\/sharing\/accept\?token=[A-Za-z0-9_-]+/.exec(mail)?.[0] ?? '';
  expect(link).not.toBe('');
  const { page } = await chromium.newPerson();
  await page.goto(link);
  await page.getByRole('heading', { level: 1, name: 'Sam Sharer shares a record with you' }).waitFor();
  expect(await page.getByRole('main').innerText()).toContain("Sam Sharer invites you to Sam Sharer's record with View only access, until 1 March 2099.");
  problems.push(...(await pageProblems(page, 'invitation, signed out')));
  await page.getByRole('link', { name: 'Create an account' }).click();
  await createAccount(page, invitee);
  await page.getByRole('button', { name: 'Accept' }).waitFor();
  problems.push(...(await pageProblems(page, 'invitation, signed in')));
  await page.getByRole('button', { name: 'Accept' }).click();
  await page.getByRole('heading', { level: 1, name: 'Sam Sharer' }).waitFor();
  const recordText = await page.getByRole('main').innerText();
  expect(recordText).toContain('Shared with you: View only');
  expect(await page.getByRole('button', { name: 'Import' }).count()).toBe(0);
  expect(await page.getByRole('link', { name: 'Share this record' }).count()).toBe(0);
  problems.push(...(await pageProblems(page, 'shared record page')));

  // The link works once.
  await page.goto(link);
  expect(await page.getByRole('main').innerText()).toContain('This invitation can no longer be used');

  // The owner sees them; a View only consent page says what is not possible.
  await ownerPage.reload();
  expect(await ownerPage.getByRole('cell', { name: 'Alex Invitee', exact: true }).count()).toBe(1);
  const app = await registerTestApp(server, {
    ...WEIGHT_TRACKER,
    client_name: 'Shared Tracker',
    rules: WEIGHT_TRACKER.rules.filter((rule) => rule.scope !== 'offline_access'),
  });
  const authorization = await startAuthorization(app, { scope: 'openid patient/Observation.rs patient/MedicationStatement.cruds' });
  await page.goto(authorization.url.toString());
  const sharedRadio = page.getByRole('radio', { name: /Sam Sharer \(shared with you: View only\)/ });
  await sharedRadio.waitFor();
  const note = page.getByText("Not possible for Sam Sharer's record: you have View only access to it");
  expect(await note.isVisible()).toBe(false);
  await sharedRadio.check();
  await note.waitFor({ state: 'visible' });
  await page.goto(`${page.url().split('?')[0] ?? ''}?record=${new URL(ownerPage.url()).pathname.split('/')[2] ?? ''}`);
  await page.getByText('Not possible: you have View only access to this record').waitFor();
  expect(await page.getByRole('checkbox', { name: /medicines list/ }).isDisabled()).toBe(true);
  problems.push(...(await pageProblems(page, 'consent, View only')));

  // Leave asks first.
  await page.goto(`${server.issuer}${new URL(ownerPage.url()).pathname.replace('/sharing', '')}`);
  await page.getByRole('link', { name: 'Leave this record' }).click();
  await page.getByRole('heading', { level: 1, name: "Leave Sam Sharer's record?" }).waitFor();
  problems.push(...(await pageProblems(page, 'leave confirmation')));
  await page.getByRole('button', { name: 'Leave' }).click();
  await page.waitForURL(`${server.issuer}/records`);
  expect(await page.getByRole('link', { name: 'Sam Sharer', exact: true }).count()).toBe(0);

  expect(problems).toEqual([]);
}, 120_000);
