/**
 * "Email me when a message arrives" on /account, with a clinic app sending through the API and over
 * SMTP and the mails read from the outbox: off for a new account and disabled (with a way to the
 * confirmation link) until the email is confirmed; a confirmed person turns it on and off with
 * Post/Redirect/Get and the CSRF token; a message then mails each custodian who turned it on once —
 * only that a message arrived in the record's inbox and the link to /inbox, nothing of the message —
 * and no more within the window, however many arrive at once; a co-custodian who left it off, and a
 * person who turned it off, get nothing; a mail that cannot be sent loses no message. In Chromium, the section passes axe-core and
 * works by keyboard.
 */
import fs from 'node:fs';
import path from 'node:path';
import { registerInChromium } from '../support/forms';
import { newPerson } from '../support/app';
import { pageProblems, tabTo } from '../support/axe';
import { Browser, textOf, type PageResponse } from '../support/browser';
import { launchChromium, type Chromium } from '../support/chromium';
import { attachment, directToken, PDF, postMessage, registerClinic, signUp, smtpTransport, storedCounts, type Member } from '../support/direct';
import { freePort } from '../support/scratch';
import { startTestServer, type TestServer } from '../support/server';
import { mailsIn } from '../support/mail';
import type { TestApp } from '../support/app';

let server: TestServer;
let chromium: Chromium;
let clinic: TestApp;
let smtpPort: number;

const NEW_MESSAGE = 'Subject: A new message arrived in carevault';

/** What the clinic sends: health data, a subject and an attachment none of which may leave in the mail. */
const SECRET = {
  subject: 'Biopsy result: melanoma stage II',
  text: 'Your HbA1c is 9.1 %. Please call Dr Quinn about the oncology referral.',
  attachments: [attachment('pathology-report.pdf', 'application/pdf', PDF)],
};

beforeAll(async () => {
  smtpPort = await freePort();
  [server, chromium] = await Promise.all([startTestServer({ DIRECT_SMTP_PORT: String(smtpPort) }), launchChromium()]);
  clinic = await registerClinic(server, 'Riverside Oncology');
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await server?.stop();
});

/** The mails sent to `to`, oldest first (quoted-printable undone). */
function mailsTo(to: string): string[] {
  return mailsIn(server.config.dataDir, to);
}

const newMessageMailsTo = (to: string) => mailsTo(to).filter((eml) => eml.includes(NEW_MESSAGE));

/** Follows the verification link mailed at registration. */
async function confirmEmail(member: Member): Promise<void> {
  const token = /\/account\/verify\?token=([\w-]{43})/.exec(mailsTo(member.person.email).at(-1) ?? '')?.[1];
  if (!token) throw new Error('no verification link');
  expect((await member.browser.visit(`/account/verify?token=${token}`)).status).toBe(200);
}

function alertOf(page: PageResponse): string {
  return textOf(/<div class="alert" role="alert">([\s\S]*?)<\/div>/.exec(page.html)?.[1] ?? '');
}

function statusOf(page: PageResponse): string {
  return textOf(/<div class="notice" role="status">([\s\S]*?)<\/div>/.exec(page.html)?.[1] ?? '');
}

/** The section's button, as the page shows it. */
function buttonOf(page: PageResponse): string {
  return /<form method="post" action="\/account\/message-mail">[\s\S]*?(<button[\s\S]*?<\/button>)/.exec(page.html)?.[1] ?? '';
}

/** Presses the section's button (Post/Redirect/Get); the page it leads to. */
async function press(browser: Browser): Promise<PageResponse> {
  const answer = await browser.submit(await browser.visit('/account'), {}, '/account/message-mail', { follow: false });
  expect(answer.status).toBe(303);
  expect(answer.location).toMatch(/\/account\?done=message-mail-(on|off)$/);
  return browser.visit(answer.location ?? '');
}

async function confirmedWithMailOn(name: string): Promise<Member> {
  const member = await signUp(server, name);
  await confirmEmail(member);
  const page = await press(member.browser);
  expect(statusOf(page)).toBe('We will email you when a message arrives.');
  return member;
}

async function send(to: string): Promise<void> {
  const { status } = await postMessage(server, await directToken(clinic), { to, ...SECRET });
  expect(status).toBe(201);
  // The mails go out after the answer: the app does not wait for them.
  await server.settled();
}

test('the setting is off for a new account and cannot be turned on before the email is confirmed', async () => {
  const member = await signUp(server, 'Una Unconfirmed');
  const account = await member.browser.visit('/account');
  const text = textOf(account.html);
  expect(text).toContain('Email me when a message arrives');
  expect(text).toContain('Off: we do not email you when a Direct message arrives.');
  expect(text).toContain('Confirm your email first: send the link again');
  expect(account.html).toContain('<a href="#resend-link">send the link again</a>');
  expect(account.html).toContain('id="resend-link"');
  expect(buttonOf(account)).toMatch(/\bdisabled\b/);

  // Sent anyway (a disabled button is no lock): refused in words, still off.
  const refused = await member.browser.submit(account, { mail: 'on' }, '/account/message-mail', { follow: false });
  expect(refused.status).toBe(409);
  expect(alertOf(refused)).toBe('Confirm your email first: we only send these emails to an address you have confirmed.');
  expect(textOf((await member.browser.visit('/account')).html)).toContain('Off: we do not');

  // A message to the inbox mails nobody.
  await send(member.address);
  expect(newMessageMailsTo(member.person.email)).toEqual([]);

  // Once confirmed, the button is open.
  await confirmEmail(member);
  const open = await member.browser.visit('/account');
  expect(buttonOf(open)).not.toMatch(/\bdisabled\b/);
  expect(textOf(open.html)).not.toContain('Confirm your email first');
});

test('a confirmed person turns it on: one mail per window, nothing of the message in it, nothing for a co-custodian who left it off', async () => {
  const anna = await confirmedWithMailOn('Anna Inbox');
  const on = await anna.browser.visit('/account');
  expect(textOf(on.html)).toContain('On: when a Direct message arrives');
  expect(textOf(buttonOf(on))).toBe('Turn off these emails');

  // Without the form's CSRF token nothing changes; an odd value is refused in words.
  const forged = await anna.browser.visit('/account/message-mail', { form: { mail: 'off' } });
  expect(forged.status).toBe(403);
  const odd = await anna.browser.submit(on, { mail: 'sometimes' }, '/account/message-mail', { follow: false });
  expect(odd.status).toBe(400);
  expect(alertOf(odd)).toBe('Choose whether to email you when a message arrives.');
  expect(textOf((await anna.browser.visit('/account')).html)).toContain('On: when');

  // Ben, confirmed, looks after Anna's record too and left it off.
  const ben = await signUp(server, 'Ben Carer');
  await confirmEmail(ben);
  await server.db.knex('custodianships').insert({ person_id: await personIdOf(ben), record_id: anna.recordId, relationship: 'partner' });

  await send(anna.address);
  const mails = newMessageMailsTo(anna.person.email);
  expect(mails).toHaveLength(1);
  const mail = mails[0] ?? '';
  expect(mail).toContain("A new message arrived in Anna Inbox's inbox at carevault.");
  expect(mail).toContain(`${server.issuer}/inbox`);
  for (const secret of ['Biopsy', 'melanoma', 'HbA1c', '9.1', 'Quinn', 'oncology', 'Oncology', 'pathology-report', 'Riverside']) {
    expect(mail).not.toContain(secret);
  }
  expect(newMessageMailsTo(ben.person.email)).toEqual([]);

  // A second message within the window is covered by the first mail; both messages are in the inbox.
  await send(anna.address);
  expect(newMessageMailsTo(anna.person.email)).toHaveLength(1);
  expect(newMessageMailsTo(ben.person.email)).toEqual([]);
  expect(textOf((await anna.browser.visit(`/inbox/${anna.recordId}`)).html).match(/Biopsy result/g)).toHaveLength(2);
});

test('messages arriving at once mail each custodian who asked exactly once', async () => {
  const fay = await confirmedWithMailOn('Fay Busy');
  const gus = await confirmedWithMailOn('Gus Cocarer');
  await server.db.knex('custodianships').insert({ person_id: await personIdOf(gus), record_id: fay.recordId, relationship: 'child' });
  await Promise.all([send(fay.address), send(fay.address), send(fay.address)]);
  expect(newMessageMailsTo(fay.person.email)).toHaveLength(1);
  const toGus = newMessageMailsTo(gus.person.email);
  expect(toGus).toHaveLength(1);
  expect(toGus[0]).toContain("A new message arrived in Fay Busy's inbox at carevault.");
});

test('a person who turned it off again gets no mail', async () => {
  const carl = await confirmedWithMailOn('Carl Quiet');
  const off = await press(carl.browser);
  expect(statusOf(off)).toBe('We will not email you when a message arrives.');
  expect(textOf(buttonOf(off))).toBe('Turn on these emails');
  await send(carl.address);
  expect(newMessageMailsTo(carl.person.email)).toEqual([]);
  // Each change is on the person's history, once.
  const changes = await server.db
    .knex('audit_events')
    .where({ subject: `person:${await personIdOf(carl)}` })
    .whereLike('kind', 'account.message_mail%');
  expect(changes.map((event: { kind: string }) => event.kind).sort()).toEqual(['account.message_mail_off', 'account.message_mail_on']);
});

test('a message over SMTP mails too, and a mail that cannot be sent loses no message', async () => {
  const dana = await confirmedWithMailOn('Dana Smtp');
  await smtpTransport(smtpPort, clinic).sendMail({ from: 'oncology@riverside.example', to: dana.address, subject: SECRET.subject, text: SECRET.text });
  await server.settled();
  const mails = newMessageMailsTo(dana.person.email);
  expect(mails).toHaveLength(1);
  expect(mails[0]).not.toContain('riverside.example');
  expect(mails[0]).not.toContain('Biopsy');

  // The outbox cannot be written: the message is stored all the same, and no mail appears later.
  const erin = await confirmedWithMailOn('Erin Outage');
  const outbox = path.join(server.config.dataDir, 'outbox');
  const before = (await storedCounts(server)).messages;
  fs.renameSync(outbox, `${outbox}.away`);
  fs.writeFileSync(outbox, 'not a directory');
  try {
    await send(erin.address);
  } finally {
    fs.rmSync(outbox);
    fs.renameSync(`${outbox}.away`, outbox);
  }
  expect((await storedCounts(server)).messages).toBe(before + 1);
  expect(textOf((await erin.browser.visit(`/inbox/${erin.recordId}`)).html)).toContain('Biopsy result');
  expect(newMessageMailsTo(erin.person.email)).toEqual([]);
});

test('in Chromium the section passes axe-core at 1280 and 390 px and is turned on by keyboard', async () => {
  const person = newPerson('Kim Keyboard');
  const { page } = await chromium.newPerson({ timeoutMs: 30_000 });
  await registerInChromium(page, server.issuer, person);
  await page.goto(`${server.issuer}/account`);
  await page.getByRole('heading', { name: 'Email me when a message arrives' }).waitFor();
  const problems = await pageProblems(page, 'account, unconfirmed');
  expect(await page.getByRole('button', { name: 'Turn on these emails' }).isDisabled()).toBe(true);

  await server.settled();
  const token = /\/account\/verify\?token=([\w-]{43})/.exec(mailsTo(person.email).at(-1) ?? '')?.[1];
  await page.goto(`${server.issuer}/account/verify?token=${token ?? ''}`);
  await page.getByRole('heading', { name: 'Email confirmed' }).waitFor();
  await page.goto(`${server.issuer}/account`);
  expect(await tabTo(page, 'button Turn on these emails')).toBe(true);
  await page.keyboard.press('Enter');
  await page.getByText('We will email you when a message arrives.').waitFor();
  await page.getByRole('button', { name: 'Turn off these emails' }).waitFor();
  problems.push(...(await pageProblems(page, 'account, on')));
  expect(problems).toEqual([]);
});

/** The person behind a member (their own record's first custodian). */
async function personIdOf(member: Member): Promise<string> {
  const row = (await server.db.knex('custodianships').where({ record_id: member.recordId }).first('person_id')) as { person_id: string };
  return row.person_id;
}
