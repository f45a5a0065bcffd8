/**
 * The carevault forms page tests fill again and again, in Chromium: creating an account (on
 * /register or from an app's sign-in page) and adding a record in one's care on /records.
 */
import type { Page } from 'playwright-core';

/** Fills the registration form on the page shown and sends it with "Create account". */
export async function createAccount(page: Page, person: { name: string; email: string; password: string }): Promise<void> {
  await page.getByLabel('Name').fill(person.name);
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Create account' }).click();
}

/** Opens /register, creates the person's account and waits for the signed-in home page that greets them. */
export async function registerInChromium(page: Page, issuer: string, person: { name: string; email: string; password: string }): Promise<void> {
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
