/**
 * People for tests: one who signs up through carevault's own pages (an HTTP-level browser that
 * keeps their session), and signing out through the end-session confirmation.
 */
import { Browser, textOf } from './browser';
import { newPerson } from './app';
import { ownRecordOf, type TestServer } from './server';

export type SignedUp = { person: ReturnType<typeof newPerson>; browser: Browser; record: string };

/** Registers `name` on /register and returns their browser (signed in) and own record. */
export async function signedUpPerson(server: TestServer, name: string): Promise<SignedUp> {
  const person = newPerson(name);
  const browser = new Browser(server.issuer);
  let page = await browser.visit('/register');
  page = await browser.submit(page, { name: person.name, email: person.email, password: person.password });
  if (!textOf(page.html).includes(`Hello, ${name}`)) throw new Error(`registration of ${name} did not land on the home page`);
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
