/**
 * Refused sign-ins and registrations in Chromium, as a person meets them: the form's POST is
 * answered 303 to its page (Post/Redirect/Get), which says what went wrong once, in an alert;
 * reload and Back send no form again — no "Confirm Form Resubmission" — and show the form as it is.
 */
import type { Page } from 'playwright-core';
import { launchChromium, type Chromium } from '../support/chromium';
import { signedUpPerson } from '../support/people';
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

/** Every document request the page sends while `go` runs, as "METHOD path". */
async function documentRequests(page: Page, go: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const note = (request: { resourceType(): string; method(): string; url(): string }) => {
    if (request.resourceType() === 'document') seen.push(`${request.method()} ${new URL(request.url()).pathname}`);
  };
  page.on('request', note);
  try {
    await go();
    await page.waitForLoadState('load');
  } finally {
    page.off('request', note);
  }
  return seen;
}

/** What the page shows: no Chromium error page (where "Confirm Form Resubmission" lives), and its text. */
async function shown(page: Page): Promise<{ url: string; text: string }> {
  const url = page.url();
  expect(url.startsWith('chrome-error:')).toBe(false);
  const text = await page.locator('body').innerText();
  expect(text).not.toMatch(/Confirm Form Resubmission|ERR_CACHE_MISS/);
  return { url, text };
}

test('a wrong password: 303 to the form, the alert once; reload and Back send nothing again', async () => {
  const { person } = await signedUpPerson(server, 'Bea Back');
  const { page } = await chromium.newPerson({ timeoutMs: 30_000 });
  await page.goto(`${server.issuer}/`);
  await page.goto(`${server.issuer}/login`);
  await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  const formUrl = page.url();

  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill('not the password at all');
  const sent = await documentRequests(page, () => page.getByRole('button', { name: 'Sign in', exact: true }).click());
  await page.getByRole('alert').waitFor();
  expect(sent).toEqual([expect.stringMatching(/^POST \/interaction\/[^/]+\/login$/), expect.stringMatching(/^GET \/interaction\/[^/]+$/)]);
  expect(await page.getByRole('alert').innerText()).toBe('The email or password is wrong.');
  // The email typed stays; the password does not.
  expect(await page.getByLabel('Email').inputValue()).toBe(person.email);
  expect(await page.getByLabel('Password').inputValue()).toBe('');

  // Reload: a GET, the form as it is, without the alert.
  const reloaded = await documentRequests(page, () => page.reload());
  expect(reloaded).toEqual([expect.stringMatching(/^GET \/interaction\/[^/]+$/)]);
  await shown(page);
  expect(await page.getByRole('alert').count()).toBe(0);

  // Another wrong password, then Back and Forward: pages fetched by GET, never the form sent again.
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill('still not the password');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('alert').waitFor();
  const back = await documentRequests(page, () => page.goBack());
  expect(back.every((request) => request.startsWith('GET '))).toBe(true);
  // The form's page before the second try (its alert already shown), fetched again by GET.
  expect((await shown(page)).url).toBe(`${formUrl}?form=signin`);
  expect(await page.getByRole('alert').count()).toBe(0);
  const forward = await documentRequests(page, () => page.goForward());
  expect(forward.every((request) => request.startsWith('GET '))).toBe(true);
  await shown(page);
  expect(await page.getByRole('alert').count()).toBe(0);

  // The right password from there signs in.
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByText('Hello, Bea Back').waitFor();
});

test('registering a taken email shows what a new email shows; Back and reload send nothing again', async () => {
  const { person } = await signedUpPerson(server, 'Tia Taken');
  const { page } = await chromium.newPerson({ timeoutMs: 30_000 });
  await page.goto(`${server.issuer}/register`);
  await page.getByLabel('Name').fill('Tia Again');
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill('another long password');
  const sent = await documentRequests(page, () => page.getByRole('button', { name: 'Create account' }).click());
  await page.getByRole('heading', { name: 'Check your email' }).waitFor();
  expect(sent).toEqual([expect.stringMatching(/^POST \/interaction\/[^/]+\/register$/), expect.stringMatching(/^GET \/interaction\/[^/]+\/registered$/)]);
  expect(await page.getByRole('status').innerText()).toBe(`We sent a link to ${person.email}. Follow it to confirm your email address; you can do that later.`);

  const reloaded = await documentRequests(page, () => page.reload());
  expect(reloaded).toEqual([expect.stringMatching(/^GET \/interaction\/[^/]+\/registered$/)]);
  await shown(page);
  const back = await documentRequests(page, () => page.goBack());
  expect(back.every((request) => request.startsWith('GET '))).toBe(true);
  await shown(page);
  await page.getByRole('button', { name: 'Create account' }).waitFor();
  await page.goForward();
  await page.getByRole('button', { name: 'Continue' }).click();
  // The taken email's Continue: the sign-in form, with the email filled in.
  await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  expect(await page.getByLabel('Email').inputValue()).toBe(person.email);
});
