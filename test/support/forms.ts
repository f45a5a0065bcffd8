/**
 * The carevault forms page tests fill again and again, in Chromium and in the HTTP-level browser:
 * creating an account (on /register or from an app's sign-in page: the form, then **Continue** on
 * "Check your email") and adding a record in one's care on /records.
 */
import type { Page } from 'playwright-core';
import type { Browser, PageResponse } from './browser';

type NewAccount = { name: string; email: string; password: string };

/** Fills the registration form on the page shown, sends it with "Create account" and continues past "Check your email". */
export async function createAccount(page: Page, person: NewAccount): Promise<void> {
  await page.getByLabel('Name').fill(person.name);
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Check your email' }).waitFor();
  await page.getByRole('button', { name: 'Continue' }).click();
}

/**
 * Sends the registration form on `page` in the HTTP-level browser and continues past "Check your
 * email"; the page landed on (a refused form comes back as it is).
 */
export async function createAccountThrough(browser: Browser, page: PageResponse, person: NewAccount): Promise<PageResponse> {
  const checkEmail = await browser.submit(page, { name: person.name, email: person.email, password: person.password });
  if (!checkEmail.html.includes('<h1>Check your email</h1>')) return checkEmail;
  return browser.submit(checkEmail, {}, '/registered');
}

/** Opens /register, creates the person's account and waits for the signed-in home page that greets them. */
export async function registerInChromium(page: Page, issuer: string, person: NewAccount): Promise<void> {
  await page.goto(`${issuer}/register`);
  await createAccount(page, person);
  await page.getByText(`Hello, ${person.name}`).waitFor();
}

/** On /records: "Add someone in your care" as the person's child, then waits for the new record's link. */
export async function addChild(page: Page, issuer: string, name: string, birthDate: string): Promise<void> {
  await page.goto(`${issuer}/records`);
  const addForm = page.locator('form').filter({ has: page.getByRole('button', { name: 'Add record' }) });
  await addForm.getByLabel('Name').fill(name);
  await addForm.getByLabel('Birth date').fill(birthDate);
  await addForm.getByLabel('Relationship').selectOption({ label: 'My child' });
  await addForm.getByRole('button', { name: 'Add record' }).click();
  await page.getByRole('link', { name, exact: true }).waitFor();
}
