/**
 * Guess limits hold under concurrency: every guess takes its attempt in one atomic statement before
 * the secret is judged, so a burst of wrong guesses sent at once — to one instance or split across
 * two on one database — has at most the limit judged, and the key is locked after. A right guess
 * gives its attempt back; a backoff's key past its free failures is tried one attempt at a time.
 * OWASP Authentication Cheat Sheet, "Account lockout".
 */
import { loadConfig } from '../../src/config';
import { createRateLimits } from '../../src/security/rate-limits';
import { TooManyAttempts } from '../../src/errors';
import { Browser, textOf, type PageResponse } from '../support/browser';
import { registeredPerson } from '../support/dopu';
import { startTestServer, type TestServer } from '../support/server';

const PAIR_LIMIT = 3;
const CODE_LIMIT = 5;
const BURST = 20;
const WRONG_PASSWORD = 'The email or password is wrong.';
const NO_SUCH_CODE = 'No package has this pickup code.';
const onPostgres = Boolean(loadConfig().databaseUrl);

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ SIGNIN_FAILURES_PER_ACCOUNT: String(PAIR_LIMIT), PICKUP_CODE_FAILURES_PER_ADDRESS: String(CODE_LIMIT) });
});

afterAll(async () => {
  await server?.stop();
});

/** What each answer said: judged wrong, or refused by the limit. */
function tally(pages: PageResponse[], wrongWords: string): { judgedWrong: number; refused: number; other: string[] } {
  const texts = pages.map((page) => textOf(page.html));
  return {
    judgedWrong: texts.filter((text) => text.includes(wrongWords)).length,
    refused: texts.filter((text) => text.includes('Too many')).length,
    other: texts.filter((text) => !text.includes(wrongWords) && !text.includes('Too many')).map((text) => text.slice(0, 200)),
  };
}

/** A fake pickup code nobody holds (20 letters of the code alphabet, distinct per guess). */
function wrongCode(n: number): string {
  const letters = 'BCDFGHJKLMNPQRSTVWXZ';
  const body = Array.from({ length: 20 }, (_, i) => letters[(n * 7 + i * 3) % letters.length]).join('');
  return body.match(/.{4}/g)!.join('-');
}

test(`${BURST} wrong passwords sent at once for one account from one address: at most ${PAIR_LIMIT} are judged, then even the right one waits`, async () => {
  const { person } = await registeredPerson(server, 'Burst Target');
  const pages = await Promise.all(
    Array.from({ length: BURST }, async (_, n) => {
      const browser = new Browser(server.issuer);
      return browser.visit('/login').then((page) => ({ browser, page, n }));
    }),
  );
  const answers = await Promise.all(pages.map(({ browser, page, n }) => browser.submit(page, { email: person.email, password: `wrong password number ${n}` })));
  const counted = tally(answers, WRONG_PASSWORD);
  expect(counted.other).toEqual([]);
  // The failure that reaches the limit is told of the lock itself.
  expect(counted.judgedWrong).toBeLessThanOrEqual(PAIR_LIMIT);
  expect(counted.judgedWrong + counted.refused).toBe(BURST);

  const browser = new Browser(server.issuer);
  const right = await browser.submit(await browser.visit('/login'), { email: person.email, password: person.password });
  expect(textOf(right.html)).toContain('Too many wrong passwords for this account from your network.');
});

test('a lock judges at most its points of a burst on the database, and right guesses give their attempt back', async () => {
  const limits = createRateLimits(server.db, server.config);
  const lock = limits.lock('two-step-person');
  const key = `race-${Date.now()}`;

  // Right guesses, one after another, never lock.
  for (let n = 0; n < 8; n += 1) await (await lock.take(key)).giveBack();
  await expect(lock.assertOpen(key)).resolves.toBeUndefined();

  const outcomes = await Promise.allSettled(
    Array.from({ length: BURST }, async () => {
      const attempt = await lock.take(key);
      await attempt.failed().catch((error: unknown) => {
        if (!(error instanceof TooManyAttempts)) throw error;
      });
      return 'judged';
    }),
  );
  const judged = outcomes.filter((outcome) => outcome.status === 'fulfilled').length;
  const refused = outcomes.filter((outcome) => outcome.status === 'rejected' && outcome.reason instanceof TooManyAttempts).length;
  expect(judged).toBeLessThanOrEqual(5);
  expect(judged + refused).toBe(BURST);
  await expect(lock.take(key)).rejects.toBeInstanceOf(TooManyAttempts);
});

test('past its free failures a backoff lets one attempt at a time be judged, and a failure makes the next wait', async () => {
  const limits = createRateLimits(server.db, server.config);
  const backoff = limits.backoff('signin-account');
  const key = `backoff-${Date.now()}@example.org`;
  for (let n = 0; n < PAIR_LIMIT; n += 1) await (await backoff.take(key)).failed();

  const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => backoff.take(key)));
  const taken = outcomes.filter((outcome) => outcome.status === 'fulfilled');
  expect(taken).toHaveLength(1);
  for (const outcome of outcomes) if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(TooManyAttempts);

  // The one that held the turn fails: the key now waits, whoever asks.
  await (taken[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof backoff.take>>>).value.failed();
  await expect(backoff.take(key)).rejects.toThrow(/Try again in \d+ seconds?\./);
  // Addresses that never guessed at the key are counted but never wait.
  await expect(backoff.take(key, true)).resolves.toBeDefined();
});

/** The burst, its guesses sent in turn to each instance, from one signed-in browser. */
async function pickupBurst(targets: TestServer[]): Promise<PageResponse[]> {
  const { browser } = await registeredPerson(targets[0]!, 'Code Guesser');
  const form = await browser.visit('/pickup');
  const cookie = browser.cookiesFor('/pickup');
  return Promise.all(
    Array.from({ length: BURST }, (_, n) => {
      const target = targets[n % targets.length]!;
      // The same form and cookies, posted to this instance's own address.
      const page = { ...form, url: `${target.url}/pickup` };
      const guesser = new Browser(target.url, { cookie });
      // The post answers 303 to the page that looks the code up (PRG); that page is the guess.
      return guesser.submit(page, { code: wrongCode(n) }, '/pickup', { follow: false }).then((posted) => guesser.request(posted.location ?? ''));
    }),
  );
}

test(`${BURST} unknown pickup codes sent at once from one address: at most ${CODE_LIMIT} are judged`, async () => {
  const counted = tally(await pickupBurst([server]), NO_SUCH_CODE);
  expect(counted.other).toEqual([]);
  expect(counted.judgedWrong).toBeLessThanOrEqual(CODE_LIMIT);
  expect(counted.judgedWrong + counted.refused).toBe(BURST);
});

// The embedded database belongs to one instance (integration/instances.test.ts), so two run only on PostgreSQL.
const onTwoInstances = onPostgres ? test : () => undefined;
onTwoInstances('a burst split across two instances on one database still has at most the limit judged', async () => {
  const first = await startTestServer({ PICKUP_CODE_FAILURES_PER_ADDRESS: String(CODE_LIMIT) });
  const second = await startTestServer({ PICKUP_CODE_FAILURES_PER_ADDRESS: String(CODE_LIMIT) }, first);
  try {
    const counted = tally(await pickupBurst([first, second]), NO_SUCH_CODE);
    expect(counted.other).toEqual([]);
    expect(counted.judgedWrong).toBeLessThanOrEqual(CODE_LIMIT);
    expect(counted.judgedWrong + counted.refused).toBe(BURST);
  } finally {
    await second.stop();
    await first.stop();
  }
});
