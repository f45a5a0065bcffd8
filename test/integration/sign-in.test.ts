/**
 * Registration and sign-in through carevault's own pages, against a real server and database:
 * what registration stores, how bad input and wrong passwords are answered (303 to the form, which
 * shows the refusal once), a taken email answered exactly as a new one (its owner mailed instead),
 * the limits on guessing (kept in the database), and signing in and out of the home pages.
 */
import { Browser, textOf, type PageResponse } from '../support/browser';
import { createAccountThrough } from '../support/forms';
import { mailsIn } from '../support/mail';
import { startTestServer, type TestServer } from '../support/server';

const WRONG = 'The email or password is wrong.';
const ACCOUNT_LIMIT = 3;

let server: TestServer;
let counter = 0;

function newPerson(name: string) {
  counter += 1;
  return { name, email: `signin${Date.now()}${counter}@example.org`, password: `a long secret ${counter} for ${name}` };
}

beforeAll(async () => {
  server = await startTestServer({ SIGNIN_FAILURES_PER_ACCOUNT: String(ACCOUNT_LIMIT) });
});

afterAll(async () => {
  await server?.stop();
});

/** The message shown above a form, exactly as a person reads it. */
function alertOf(page: PageResponse): string | undefined {
  const match = /<div class="alert" role="alert">([\s\S]*?)<\/div>/.exec(page.html);
  return match ? textOf(match[1] ?? '') : undefined;
}

/** A browser on the registration page (GET /register → the authorization flow → the form). */
async function registrationPage(target: TestServer = server): Promise<{ browser: Browser; page: PageResponse }> {
  const browser = new Browser(target.issuer);
  const page = await browser.visit('/register');
  expect(page.status).toBe(200);
  expect(page.html).toContain('>Create account</button>');
  return { browser, page };
}

/** A browser on the sign-in page (GET /login). */
async function signInPage(target: TestServer = server): Promise<{ browser: Browser; page: PageResponse }> {
  const browser = new Browser(target.issuer);
  const page = await browser.visit('/login');
  expect(page.status).toBe(200);
  expect(page.html).toContain('>Sign in</button>');
  return { browser, page };
}

async function register(person: { name: string; email: string; password: string }, target: TestServer = server): Promise<Browser> {
  const { browser, page } = await registrationPage(target);
  const home = await createAccountThrough(browser, page, person);
  expect(home.status).toBe(200);
  expect(textOf(home.html)).toContain(`Hello, ${person.name}`);
  return browser;
}

async function tableCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of ['people', 'records', 'custodianships', 'resources']) {
    const [row] = await server.db.knex(table).count<{ count: string }[]>({ count: '*' });
    counts[table] = Number(row?.count);
  }
  return counts;
}

describe('registration', () => {
  test('creates the person with an argon2id hash, and their own record with a Patient', async () => {
    const person = newPerson('Morgan Lee');
    await register(person);

    const rows = await server.db.knex('people').whereRaw('lower(email) = ?', [person.email]);
    expect(rows).toHaveLength(1);
    const row = rows[0] as Record<string, unknown>;
    expect(row.name).toBe(person.name);
    expect(String(row.password_hash)).toMatch(/^\$argon2id\$/);
    for (const value of Object.values(row)) expect(String(value)).not.toContain(person.password);

    // A record's name is its Patient's.
    const records = await server.db
      .knex('records as r')
      .join('custodianships as c', 'c.record_id', 'r.id')
      .join('resources as p', (join) => join.on(server.db.knex.raw('p.id = r.id::text')).andOnVal('p.type', 'Patient'))
      .where('c.person_id', row.id as string)
      .select('r.id', server.db.knex.raw(`p.content->'name'->0->>'text' as name`), 'c.relationship');
    expect(records).toEqual([{ id: expect.any(String), name: person.name, relationship: 'self' }]);

    const resources = await server.db.knex('resources').where({ record_id: records[0].id });
    expect(resources).toHaveLength(1);
    expect(resources[0]).toMatchObject({ type: 'Patient', id: records[0].id });
    const patient = resources[0].content as { resourceType: string; id: string; name: { text?: string }[] };
    expect(patient.resourceType).toBe('Patient');
    expect(patient.id).toBe(records[0].id);
    expect(patient.name[0]?.text).toBe(person.name);

    // The plain password is nowhere in the database's tables of people and records.
    const everything = JSON.stringify([
      await server.db.knex('people'),
      await server.db.knex('records'),
      await server.db.knex('resources'),
      await server.db.knex('oidc_models').select('payload'),
    ]);
    expect(everything).not.toContain(person.password);
  });

  test('an email already taken gets the same answer, page and words as a new one; its owner is mailed (once a day), the new one a link', async () => {
    const owner = newPerson('Jordan First');
    await register(owner);
    await server.settled();
    const before = await tableCounts();

    /** Registers `person`: the POST's answer, the page it leads to, and that page's words with the email (as kept, in lower case) written EMAIL. */
    const tryRegistering = async (person: { name: string; email: string; password: string }) => {
      const { browser, page } = await registrationPage();
      const answer = await browser.submit(page, person, '', { follow: false });
      const shown = await browser.visit(answer.location ?? '');
      return { browser, answer, shown, words: textOf(shown.html).replaceAll(person.email.toLowerCase(), 'EMAIL') };
    };
    const fresh = newPerson('Jordan Fresh');
    const taken = await tryRegistering({ name: 'Jordan Second', email: owner.email.toUpperCase(), password: 'another long password' });
    const created = await tryRegistering(fresh);
    expect(taken.answer.status).toBe(303);
    expect(created.answer.status).toBe(303);
    expect(new URL(taken.answer.location ?? '', server.issuer).pathname).toMatch(/^\/interaction\/[^/]+\/registered$/);
    expect(new URL(created.answer.location ?? '', server.issuer).pathname).toMatch(/^\/interaction\/[^/]+\/registered$/);
    expect(taken.answer.headers.getSetCookie().map((cookie) => cookie.split('=')[0])).toEqual(
      created.answer.headers.getSetCookie().map((cookie) => cookie.split('=')[0]),
    );
    expect(taken.shown.status).toBe(200);
    expect(taken.words).toBe(created.words);
    expect(created.words).toContain('Check your email');
    expect(created.words).toContain('We sent a link to EMAIL');
    expect(taken.shown.html).toContain(owner.email.toLowerCase());

    // The owner is told, with the ways back in; the new person gets their verification link.
    await server.settled();
    const toOwner = mailsIn(server.config.dataDir, owner.email).filter((mail) => mail.includes('tried to create a carevault account'));
    expect(toOwner).toHaveLength(1);
    expect(toOwner[0]).toContain(`${server.issuer}/account/recover`);
    expect(toOwner[0]).toContain(`${server.issuer}/login`);
    expect(mailsIn(server.config.dataDir, fresh.email).join('')).toContain('Confirm your email for carevault');
    expect(mailsIn(server.config.dataDir, fresh.email).join('')).not.toContain('tried to create');

    // Continue: the new person goes on signed in; the taken email reaches the sign-in form, filled in.
    const home = await created.browser.submit(created.shown, {}, '/registered');
    expect(textOf(home.html)).toContain('Hello, Jordan Fresh');
    const signIn = await taken.browser.submit(taken.shown, {}, '/registered');
    expect(signIn.status).toBe(200);
    expect(signIn.html).toContain('>Sign in</button>');
    expect(signIn.html).toContain(`value="${owner.email.toLowerCase()}"`);
    expect(textOf(signIn.html)).not.toContain('Hello,');

    // Trying again the same day mails the owner no more; nothing of the tries was kept.
    await tryRegistering({ name: 'Jordan Third', email: owner.email, password: 'yet another long password' });
    await server.settled();
    expect(mailsIn(server.config.dataDir, owner.email).filter((mail) => mail.includes('tried to create a carevault account'))).toHaveLength(1);
    expect(await server.db.knex('registration_mail')).toEqual([]);
    const after = await tableCounts();
    expect(after.people).toBe((before.people ?? 0) + 1);
    expect(await server.db.knex('people').whereRaw('lower(email) = ?', [owner.email])).toHaveLength(1);
  });

  test.each([
    ['a short password', { name: 'Short Pass', password: 'short' }, 'Choose a password of at least 10 characters.'],
    ['a bad email', { name: 'Bad Email', email: 'not-an-email' }, 'Enter an email address like name@example.com.'],
    ['an empty name', { name: '   ' }, 'Enter your name.'],
  ])('%s is refused with 400 and a message naming it, writing nothing', async (_label, change, message) => {
    const before = await tableCounts();
    const { browser, page } = await registrationPage();
    const person = { ...newPerson('Valid Name'), ...change };
    const refused = await browser.submit(page, person);
    expect(refused.status).toBe(400);
    expect(alertOf(refused)).toBe(message);
    expect(refused.html).toContain('>Create account</button>');
    expect(await tableCounts()).toEqual(before);
  });
});

describe('sign-in', () => {
  test('a wrong password and an unknown email get exactly the same answer (401)', async () => {
    const person = newPerson('Casey Wrong');
    await register(person);

    const wrongPassword = await signInPage();
    const first = await wrongPassword.browser.submit(wrongPassword.page, { email: person.email, password: 'not the password at all' });
    expect(first.status).toBe(401);
    expect(alertOf(first)).toBe(WRONG);

    const unknownEmail = await signInPage();
    const second = await unknownEmail.browser.submit(unknownEmail.page, { email: `nobody${Date.now()}@example.org`, password: person.password });
    expect(second.status).toBe(401);
    expect(alertOf(second)).toBe(WRONG);
  });

  test('a refused sign-in answers 303 to the form, which shows the refusal once, with the email typed and never the password', async () => {
    const person = newPerson('Pat Redirect');
    await register(person);
    const { browser, page } = await signInPage();
    const answer = await browser.submit(page, { email: person.email, password: 'a wrong password typed' }, '', { follow: false });
    expect(answer.status).toBe(303);
    const target = new URL(answer.location ?? '', server.issuer);
    expect(`${target.pathname}${target.search}`).toBe(`${new URL(page.url).pathname}?form=signin`);

    const shown = await browser.visit(target.toString());
    expect(shown.status).toBe(401);
    expect(alertOf(shown)).toBe(WRONG);
    expect(shown.html).toContain(`value="${person.email}"`);
    expect(shown.html).not.toContain('a wrong password typed');
    expect(shown.headers.get('set-cookie') ?? '').not.toContain('a wrong password typed');

    // Reload: the form as it is, without the refusal.
    const reloaded = await browser.visit(target.toString());
    expect(reloaded.status).toBe(200);
    expect(alertOf(reloaded)).toBeUndefined();
    expect(reloaded.html).not.toContain(`value="${person.email}"`);

    // The right password from the same form goes on.
    const home = await browser.submit(reloaded, { email: person.email, password: person.password });
    expect(textOf(home.html)).toContain(`Hello, ${person.name}`);
  });

  test('a refused registration answers 303 to its form, which keeps the name and email once', async () => {
    const { browser, page } = await registrationPage();
    const answer = await browser.submit(page, { name: 'Sam Short', email: 'sam.short@example.org', password: 'short' }, '', { follow: false });
    expect(answer.status).toBe(303);
    expect(new URL(answer.location ?? '', server.issuer).pathname).toMatch(/^\/interaction\/[^/]+\/register$/);
    const shown = await browser.visit(answer.location ?? '');
    expect(shown.status).toBe(400);
    expect(alertOf(shown)).toBe('Choose a password of at least 10 characters.');
    expect(shown.html).toContain('value="Sam Short"');
    expect(shown.html).toContain('value="sam.short@example.org"');
    const reloaded = await browser.visit(answer.location ?? '');
    expect(reloaded.status).toBe(200);
    expect(alertOf(reloaded)).toBeUndefined();
  });

  test(`after ${ACCOUNT_LIMIT} wrong passwords from one address even the right one from there is refused (429, "Try again in"), counted in rate_limits`, async () => {
    const person = newPerson('Quinn Locked');
    await register(person);

    const { browser, page: start } = await signInPage();
    let page = start;
    for (let attempt = 1; attempt <= ACCOUNT_LIMIT; attempt += 1) {
      page = await browser.submit(page, { email: person.email, password: `wrong password ${attempt}` });
      expect(page.status).toBe(401);
      expect(alertOf(page)).toBe(WRONG);
    }
    const rows = (await server.db.knex('rate_limits').where('key', 'like', `signin-account-address:%${person.email}|%`)) as { key: string; points: number }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]?.points).toBeGreaterThanOrEqual(ACCOUNT_LIMIT);

    const refused = await browser.submit(page, { email: person.email, password: person.password });
    expect(refused.status).toBe(429);
    expect(alertOf(refused)).toContain('Try again in');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.location).toBeUndefined();

    // The same from a new browser at that address: the lock is on the account at the address, not
    // the browser (other addresses: reliability-sign-in.test.ts).
    const other = await signInPage();
    const again = await other.browser.submit(other.page, { email: person.email, password: person.password });
    expect(again.status).toBe(429);
    expect(alertOf(again)).toContain('Try again in');
  });

  test('signing in at /login shows "Hello, <name>" on /; /logout asks, then signs out', async () => {
    const person = newPerson('Avery Home');
    await register(person);

    const { browser, page } = await signInPage();
    const home = await browser.submit(page, { email: person.email, password: person.password });
    expect(home.status).toBe(200);
    expect(new URL(home.url).pathname).toBe('/');
    expect(textOf(home.html)).toContain(`Hello, ${person.name}`);
    expect(textOf((await browser.visit('/')).html)).toContain(`Hello, ${person.name}`);

    const confirm = await browser.visit('/logout');
    expect(confirm.status).toBe(200);
    expect(textOf(confirm.html)).toContain('Sign out of carevault?');
    const xsrf = confirm.html.match(/name="xsrf" value="([^"]+)"/)?.[1];
    const action = confirm.html.match(/<form[^>]*action="([^"]+)"/)?.[1];
    expect(xsrf).toEqual(expect.any(String));
    expect(action).toEqual(expect.any(String));
    const done = await browser.visit(action ?? '', { form: { xsrf: xsrf ?? '', logout: 'yes' } });
    expect(done.status).toBe(200);
    expect(textOf(done.html)).toContain('You are signed out');

    const after = await browser.visit('/');
    expect(after.status).toBe(200);
    expect(textOf(after.html)).not.toContain(person.name);
    expect(textOf(after.html)).toContain('Create account');
  });

  test('a stranger on / sees no one signed in', async () => {
    const home = await new Browser(server.issuer).visit('/');
    expect(home.status).toBe(200);
    expect(textOf(home.html)).not.toContain('Hello,');
  });
});

describe('the per-address limit', () => {
  const ADDRESS_LIMIT = 4;
  let limited: TestServer;

  beforeAll(async () => {
    limited = await startTestServer({ SIGNIN_FAILURES_PER_ADDRESS: String(ADDRESS_LIMIT) });
  });

  afterAll(async () => {
    await limited?.stop();
  });

  test('wrong passwords for different accounts from one client lock sign-in for every account', async () => {
    const person = newPerson('Robin Address');
    await register(person, limited);

    // One failure each for several accounts: no account reaches its own limit (5).
    for (let attempt = 1; attempt <= ADDRESS_LIMIT; attempt += 1) {
      const { browser, page } = await signInPage(limited);
      const failed = await browser.submit(page, { email: `guess${attempt}-${Date.now()}@example.org`, password: 'a guessed password' });
      expect(failed.status).toBe(401);
      expect(alertOf(failed)).toBe(WRONG);
    }

    const { browser, page } = await signInPage(limited);
    const refused = await browser.submit(page, { email: person.email, password: person.password });
    expect(refused.status).toBe(429);
    expect(alertOf(refused)).toContain('Try again in');

    const rows = (await limited.db.knex('rate_limits').where('key', 'like', 'signin-address-failures:%')) as { key: string; points: number }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]?.points).toBeGreaterThanOrEqual(ADDRESS_LIMIT);
  });

  test('registrations from one client are limited too: past the limit the page says so and nothing is written', async () => {
    // The first test registered one person from this client; fill the rest of the allowance.
    for (let count = 2; count <= ADDRESS_LIMIT; count += 1) await register(newPerson(`Allowed ${count}`), limited);
    const person = newPerson('One Too Many');
    const { browser, page } = await registrationPage(limited);
    const refused = await browser.submit(page, person);
    expect(refused.status).toBe(429);
    expect(alertOf(refused)).toContain('Too many accounts were created from your network.');
    expect(await limited.db.knex('people').whereRaw('lower(email) = ?', [person.email])).toHaveLength(0);
  });
});
