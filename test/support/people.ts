/**
 * People for tests: one who signs up through carevault's own pages (an HTTP-level browser that
 * keeps their session), signing out through the end-session confirmation, and removing an app's
 * access through its confirmation page.
 */
import { Browser, textOf, type PageResponse } from './browser';
import { newPerson } from './app';
import { ownRecordOf, type TestServer } from './server';
import { createAccountThrough } from './forms';

export type SignedUp = { person: ReturnType<typeof newPerson>; browser: Browser; record: string };

/** Registers `name` on /register and returns their browser (signed in) and own record. */
export async function signedUpPerson(server: TestServer, name: string): Promise<SignedUp> {
  const person = newPerson(name);
  const browser = new Browser(server.issuer);
  let page = await browser.visit('/register');
  page = await createAccountThrough(browser, page, person);
  if (!textOf(page.html).includes(`Hello, ${name}`)) throw new Error(`registration of ${name} did not land on the home page`);
  // The verification mail goes out after the answer; a test reads it next.
  await server.settled();
  return { person, browser, record: await ownRecordOf(server, person.email) };
}

/** Signs out through /logout and its confirmation form. */
export async function signOut(browser: Browser): Promise<void> {
  const confirm = await browser.visit('/logout');
  const xsrf = confirm.html.match(/name="xsrf" value="([^"]+)"/)?.[1] ?? '';
  const action = confirm.html.match(/<form[^>]*action="([^"]+)"/)?.[1] ?? '';
  const done = await browser.visit(action, { form: { xsrf, logout: 'yes' } });
  if (!textOf(done.html).includes('You are signed out')) throw new Error('signing out did not finish');
}

/**
 * Remove access as a person does it on `apps` (the /apps page): its button opens the confirmation
 * page, whose **Remove access** confirms. Returns the page landed on (/apps with what ended).
 */
export async function removeAccess(browser: Browser, apps: PageResponse, index = 0): Promise<PageResponse> {
  const confirm = [...apps.html.matchAll(/<form method="get" action="(\/apps\/[^"]+\/remove)"/g)][index]?.[1];
  if (!confirm) throw new Error('no Remove access on the page');
  return browser.submit(await browser.visit(confirm), {}, '/remove');
}
