/**
 * The mail a registration owes, against a real SMTP server played by the test: it is sent after
 * the registration is answered, so a mail server that holds the message neither slows the answer
 * nor tells a new email from a taken one; and it is kept until it went out, so a mail server that
 * refuses it gets it again from the sweep.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { Browser, textOf } from '../support/browser';
import { createAccountThrough } from '../support/forms';
import { newPerson } from '../support/app';
import { startTestServer, type TestServer } from '../support/server';

type Received = { to: string[]; text: string };

let server: TestServer;
let smtp: SMTPServer;
const received: Received[] = [];
/** While set, the mail server holds every message until it is released. */
let holding: { until: Promise<void>; release: () => void } | undefined;
/** How many messages the mail server refuses next (451, try again later). */
let refuseNext = 0;

function hold(): void {
  let release = () => {};
  const until = new Promise<void>((resolve) => {
    release = resolve;
  });
  holding = { until, release };
}

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        void (holding?.until ?? Promise.resolve()).then(() => {
          if (refuseNext > 0) {
            refuseNext -= 1;
            callback(Object.assign(new Error('Try again later'), { responseCode: 451 }));
            return;
          }
          const text = Buffer.concat(chunks)
            .toString('utf8')
            .replace(/=\r?\n/g, '')
            .replace(/=([0-9A-F]{2})/g, (_match, hex: string) => String.fromCharCode(parseInt(hex, 16)));
          received.push({ to: session.envelope.rcptTo.map((rcpt) => rcpt.address), text });
          callback();
        });
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  const { port } = smtp.server.address() as AddressInfo;
  server = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${port}` });
});

afterAll(async () => {
  holding?.release();
  await server?.stop();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
});

const mailsTo = (email: string) => received.filter((mail) => mail.to.includes(email));

test('a new and a taken email are answered before their mail goes out, while the mail server holds it', async () => {
  const owner = newPerson('Mo Owner');
  const first = new Browser(server.issuer);
  expect(textOf((await createAccountThrough(first, await first.visit('/register'), owner)).html)).toContain('Hello, Mo Owner');
  await server.settled();
  expect(mailsTo(owner.email)).toHaveLength(1);

  hold();
  const fresh = newPerson('Fay Fresh');
  const answers: { email: string; status: number; ms: number }[] = [];
  for (const person of [fresh, { ...owner, name: 'Mo Again' }]) {
    const browser = new Browser(server.issuer);
    const page = await browser.visit('/register');
    const started = Date.now();
    const answer = await browser.submit(page, person, '', { follow: false });
    answers.push({ email: person.email, status: answer.status, ms: Date.now() - started });
    const shown = await browser.visit(answer.location ?? '');
    expect(textOf(shown.html)).toContain(`We sent a link to ${person.email}`);
  }
  // Both answered while the mail server still holds both messages.
  expect(answers.map((answer) => answer.status)).toEqual([303, 303]);
  expect(mailsTo(fresh.email)).toHaveLength(0);
  expect(mailsTo(owner.email)).toHaveLength(1);
  // Both mails are owed, kept until they go out.
  expect(((await server.db.knex('registration_mail').select('kind')) as { kind: string }[]).map((row) => row.kind).sort()).toEqual([
    'email_taken',
    'registered',
  ]);

  holding?.release();
  holding = undefined;
  await server.settled();
  expect(mailsTo(fresh.email).map((mail) => mail.text)).toEqual([expect.stringContaining('/account/verify?token=')]);
  expect(mailsTo(owner.email).at(-1)?.text).toContain('tried to create a carevault account with this email address');
  expect(mailsTo(owner.email).at(-1)?.text).toContain(`${server.issuer}/account/recover`);
  expect(await server.db.knex('registration_mail')).toEqual([]);
  console.log(`registration answered with the mail server holding its mail: new email in ${answers[0]?.ms} ms, taken email in ${answers[1]?.ms} ms`);
});

test('a mail the server refused is kept and sent again by the sweep', async () => {
  refuseNext = 1;
  const person = newPerson('Ray Later');
  const browser = new Browser(server.issuer);
  const home = await createAccountThrough(browser, await browser.visit('/register'), person);
  expect(textOf(home.html)).toContain('Hello, Ray Later');
  await server.settled();
  expect(mailsTo(person.email)).toHaveLength(0);
  const [kept] = (await server.db.knex('registration_mail')) as { kind: string; attempts: number }[];
  expect(kept).toMatchObject({ kind: 'registered', attempts: 1 });

  // Its sender's hold is over: the sweep sends it.
  await server.db.knex('registration_mail').update({ not_before: new Date(Date.now() - 1000) });
  expect((await server.sweepOnce()).registrationMail).toBe(1);
  expect(mailsTo(person.email).map((mail) => mail.text)).toEqual([expect.stringContaining('/account/verify?token=')]);
  expect(await server.db.knex('registration_mail')).toEqual([]);
});
