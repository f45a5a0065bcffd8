/**
 * Sign-in limits that cannot be turned against the person, with client addresses played
 * through a trusted proxy's X-Forwarded-For: one address guessing at one account is locked out of
 * that account; many addresses guessing at it wait longer and longer (never a lock); the person
 * from an address that has not guessed signs in at once with the right password. Registration:
 * failed ones count against the address, and a taken email runs the same statements as a new one
 * (its person and record then undone, its mail to the owner kept) and gets the same answer.
 * Prints its figures.
 */
import { Browser, textOf, type PageResponse } from '../support/browser';
import { createAccountThrough } from '../support/forms';
import { startTestServer, type TestServer } from '../support/server';
import { isTimerWork } from '../support/statements';

const PER_ACCOUNT = 3;
const PER_ADDRESS = 12;
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ TRUST_PROXY: 'true', SIGNIN_FAILURES_PER_ACCOUNT: String(PER_ACCOUNT), SIGNIN_FAILURES_PER_ADDRESS: String(PER_ADDRESS) });
});

afterAll(async () => {
  await server?.stop();
});

function alertOf(page: PageResponse): string {
  const match = /<div class="alert" role="alert">([\s\S]*?)<\/div>/.exec(page.html);
  return match ? textOf(match[1] ?? '') : '';
}

function browserAt(address: string): Browser {
  return new Browser(server.issuer, { 'x-forwarded-for': address });
}

async function signIn(address: string, email: string, password: string): Promise<PageResponse> {
  const browser = browserAt(address);
  const page = await browser.visit('/login');
  return browser.submit(page, { email, password });
}

async function register(address: string, person: { name: string; email: string; password: string }): Promise<PageResponse> {
  const browser = browserAt(address);
  const page = await browser.visit('/register');
  return createAccountThrough(browser, page, person);
}

test('guessing from one address or many never locks the person out; the waits grow; figures', async () => {
  const victim = { name: 'Vic Target', email: `victim${Date.now()}@example.org`, password: 'the right long password' };
  expect(textOf((await register('192.0.2.10', victim)).html)).toContain('Hello, Vic Target');

  // One address guesses ten times: after PER_ACCOUNT wrong passwords it is locked out of this account.
  const single: number[] = [];
  for (let i = 0; i < 10; i += 1) single.push((await signIn('203.0.113.5', victim.email, `guess ${i}`)).status);
  expect(single.slice(0, PER_ACCOUNT)).toEqual(Array(PER_ACCOUNT).fill(401));
  expect(single.slice(PER_ACCOUNT).every((status) => status === 429)).toBe(true);
  // …even with the right password, from there.
  expect((await signIn('203.0.113.5', victim.email, victim.password)).status).toBe(429);

  // Six more addresses, two guesses each: the first of each is heard, the second must wait, longer each time.
  const waits: number[] = [];
  let heard = 0;
  for (let n = 1; n <= 6; n += 1) {
    const first = await signIn(`198.51.100.${n}`, victim.email, `spread guess ${n}a`);
    if (first.status === 401) heard += 1;
    const second = await signIn(`198.51.100.${n}`, victim.email, `spread guess ${n}b`);
    expect(second.status).toBe(429);
    waits.push(Number(/Try again in (\d+) second/.exec(alertOf(second))?.[1] ?? NaN));
  }
  expect(heard).toBe(6);
  expect(waits).toEqual([...waits].sort((a, b) => a - b));
  expect(waits[waits.length - 1]).toBeGreaterThan(waits[0] ?? 0);

  // The person, from home (an address that has not guessed), signs in at once.
  const started = Date.now();
  const home = await signIn('192.0.2.10', victim.email, victim.password);
  const took = Date.now() - started;
  expect(home.status).toBe(200);
  expect(textOf(home.html)).toContain('Hello, Vic Target');
  // So does a new address the person has never used.
  expect((await signIn('192.0.2.99', victim.email, victim.password)).status).toBe(200);

  console.log(
    `sign-in limits: one address, 10 guesses → ${single.filter((s) => s === 401).length} heard, ${single.filter((s) => s === 429).length} refused; ` +
      `6 more addresses × 2 guesses → ${heard} heard, 6 told to wait (s): ${waits.join(', ')}; ` +
      `right password from home → ${home.status} in ${took} ms, from a new address → 200`,
  );
});

test('one address guessing across accounts is locked out; the others are not', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < PER_ADDRESS + 2; i += 1) statuses.push((await signIn('203.0.113.77', `nobody${i}@example.org`, 'some password')).status);
  expect(statuses.slice(0, PER_ADDRESS)).toEqual(Array(PER_ADDRESS).fill(401));
  expect(statuses.slice(PER_ADDRESS)).toEqual([429, 429]);
  expect((await signIn('203.0.113.78', 'nobody0@example.org', 'some password')).status).toBe(401);
});

test('registration: failed ones count against the address; a taken email runs the same statements as a new one', async () => {
  const taken = { name: 'Tay Ken', email: `taken${Date.now()}@example.org`, password: 'a long enough password' };
  expect((await register('192.0.2.50', taken)).status).toBe(200);

  /**
   * One registration request: its answer (where it sent the browser) and the statements it ran up to
   * the mail it owes, with the end of its savepoint (kept or undone) written alike. The mail is sent
   * after the answer, so what follows it is not the request's. The server's timers are left out.
   */
  const statementsOf = async (browser: Browser, person: typeof taken) => {
    const page = await browser.visit('/register');
    // The mail of the registration before goes out first, so only this request's statements are seen.
    await server.settled();
    const seen: string[] = [];
    const stop = server.db.onStatement((sql) => seen.push(sql.replace(/\s+/g, ' ').trim()));
    try {
      const answer = await browser.submit(page, person, '', { follow: false });
      const owed = seen.findIndex((sql) => /insert into "registration_mail"/.test(sql));
      const statements = seen
        .slice(0, owed + 1)
        .filter((sql) => !isTimerWork(sql))
        .map((sql) => sql.replace(/^(release|rollback to) savepoint/i, 'end savepoint'));
      return { status: answer.status, to: new URL(answer.location ?? '', server.issuer).pathname, statements };
    } finally {
      stop();
    }
  };

  const prober = '203.0.113.99';
  const answers: string[] = [];
  const runs = { taken: [] as string[][], fresh: [] as string[][] };
  for (let i = 0; i < PER_ADDRESS + 2; i += 1) {
    const fresh = i % 2 === 1;
    const { status, to, statements } = await statementsOf(browserAt(prober), fresh ? { ...taken, email: `fresh${i}${Date.now()}@example.org` } : taken);
    answers.push(`${status} ${to.replace(/^\/interaction\/[^/]+/, '…')}`);
    if (to.endsWith('/registered')) runs[fresh ? 'fresh' : 'taken'].push(statements);
  }
  // PER_ADDRESS registrations (taken or not) from one address, answered alike, then refused (back to the form).
  expect(answers.slice(0, PER_ADDRESS)).toEqual(Array(PER_ADDRESS).fill('303 …/registered'));
  expect(answers.slice(PER_ADDRESS)).toEqual(['303 …/register', '303 …/register']);
  const late = browserAt(prober);
  const again = await late.submit(await late.visit('/register'), { ...taken, email: `late${Date.now()}@example.org` });
  expect(again.status).toBe(429);
  expect(alertOf(again)).toContain('Too many accounts were created from your network.');

  // A taken email runs exactly what a new one runs (the hash included, outside the database), up to
  // the mail it owes: only the end of its savepoint differs (undone, not kept).
  const [takenRun, freshRun] = [runs.taken[1], runs.fresh[1]];
  expect(takenRun && takenRun.length).toBeGreaterThan(5);
  expect(takenRun?.some((sql) => /insert into "people"/.test(sql))).toBe(true);
  expect(takenRun?.at(-1)).toMatch(/insert into "registration_mail"/);
  expect(freshRun).toEqual(takenRun);
  console.log(
    `registration from one address: ${answers.length} tries → ${runs.taken.length} taken, ${runs.fresh.length} created, ` +
      `${answers.length - PER_ADDRESS} refused; a taken email ran the new account's ${takenRun?.length} statements, its person and record then undone`,
  );
  // Nothing of the taken email's attempts was kept.
  const [{ n }] = (await server.db.knex('people').whereRaw("email like '%@taken.invalid'").count({ n: '*' })) as [{ n: string | number }];
  expect(Number(n)).toBe(0);
});
