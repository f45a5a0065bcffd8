/**
 * The secret answer under attack (a package locks after 3 wrong answers): someone holding
 * a pickup code posts many guesses at once, on one instance or on two of the same issuer — the
 * answers are judged one at a time, so of all the guesses only three wrong ones are ever judged
 * and the contents are never shown once the third is counted; one account cannot spend the tries
 * of package after package; and a copy of the database cannot be used to try answers offline (the
 * package key needs the server's pepper), while packages sealed before the pepper still open.
 */
import { loadConfig } from '../../src/config';
import { PEPPER_SECRET } from '../../src/dopu/feature';
import { deriveKey, open, seal } from '../../src/dopu/sealing';
import { openSecret } from '../../src/security/secrets';
import { Browser, textOf, type PageResponse } from '../support/browser';
import { ANSWER, MARKERS, answer, clinicApp, dumpEverything, enterCode, reachReview, registeredPerson, type Dropper } from '../support/dopu';
import { startTestServer, type TestServer } from '../support/server';

const ON_POSTGRES = Boolean(loadConfig().databaseUrl);
const KEY_ENCRYPTION_SECRET = 'a-key-encryption-secret-of-more-than-32-characters';
const WRONG_ANSWERS_PER_PERSON = 4;

let server: TestServer;
let clinic: Dropper;

beforeAll(async () => {
  server = await startTestServer({ KEY_ENCRYPTION_SECRET, PICKUP_WRONG_ANSWERS_PER_PERSON: String(WRONG_ANSWERS_PER_PERSON) });
  clinic = await clinicApp(server, 'Riverside Clinic');
});

afterAll(async () => {
  await server?.stop();
});

const kindsAbout = (id: string): Promise<string[]> =>
  server.db
    .knex('audit_events')
    .where({ subject: `package:${id}` })
    .orderBy('id')
    .pluck('kind');

type Answered = { guess: string; status: number; text: string };

/**
 * Posts the question page's form straight to `base` (the page's own instance or another one of the
 * issuer) and follows its redirect as the browser would, with the cookie that one answer set: what
 * the guess was told is the page it leads to (its status: 200 with the contents, 410 or 429 refused).
 */
async function postAnswer(base: string, browser: Browser, question: PageResponse, guess: string): Promise<Answered> {
  const field = (name: string) => question.html.match(new RegExp(`name="${name}" value="([^"]*)"`))?.[1] ?? '';
  const res = await fetch(`${base}/pickup/answer`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', cookie: browser.cookiesFor('/pickup/answer') },
    body: new URLSearchParams({ _csrf: field('_csrf'), code: field('code'), answer: guess }).toString(),
    redirect: 'manual',
  });
  expect(res.status).toBe(303);
  const said = res.headers
    .getSetCookie()
    .map((line) => line.split(';')[0] ?? '')
    .filter((pair) => pair.startsWith('cv.pickup.said='));
  const location = new URL(res.headers.get('location') ?? '/', base);
  const kept = browser
    .cookiesFor(location.pathname)
    .split('; ')
    .filter((pair) => pair && !pair.startsWith('cv.pickup.said='));
  const cookie = [...kept, ...said].join('; ');
  let page = await fetch(location, { headers: { accept: 'text/html', cookie }, redirect: 'manual' });
  // A right answer's review finds the package locked by a later wrong one: on to how the pickup ended.
  for (let hops = 0; page.status === 303 && hops < 3; hops += 1) {
    page = await fetch(new URL(page.headers.get('location') ?? '/', base), { headers: { accept: 'text/html', cookie }, redirect: 'manual' });
  }
  return { guess, status: page.status, text: textOf(await page.text()) };
}

/**
 * After two wrong answers, 20 guesses at once — `rightAt` is the right one — spread over `bases`.
 * Checks what every guess was told against the order in which the package's audit saw them judged.
 */
async function guessAtOnce(bases: readonly string[], rightAt: number) {
  const receipt = await clinic.dropOff();
  const { browser } = await registeredPerson(server, `Gus Guesser ${rightAt}`);
  let question = await enterCode(browser, receipt.pickup_code);
  for (const wrong of ['red panda', 'grey seal']) {
    question = await answer(browser, question, wrong);
    expect(question.status).toBe(400);
  }
  const guesses = Array.from({ length: 20 }, (_, i) => (i === rightAt ? ANSWER : `wrong guess ${i}`));
  const told = await Promise.all(guesses.map((guess, i) => postAnswer(bases[i % bases.length] as string, browser, question, guess)));

  const kinds = await kindsAbout(receipt.id);
  const statuses = told.map((reply) => (reply.guess === ANSWER ? `right:${reply.status}` : reply.status)).join(' ');
  console.log(`right guess at ${rightAt}: ${statuses}; audit: ${kinds.slice(3).join(' ')}`);
  const failed = told.filter((reply) => reply.status >= 500);
  expect(failed).toEqual([]);
  // Contents are shown only to the right guess, and only while the package is still pending when its
  // page loads: a third wrong answer judged after the right one locks it before the review is read.
  const opened = told.filter((reply) => reply.text.includes('What is in the package'));
  for (const reply of opened) expect([reply.guess, reply.status]).toEqual([ANSWER, 200]);
  const right = told.find((reply) => reply.guess === ANSWER);
  const lockedAfterRight = right !== undefined && right.status === 200 && !opened.includes(right);
  if (lockedAfterRight) expect(right?.text).toContain('Not picked up This package is locked because the answer was wrong 3 times');
  // Every other guess is refused: judged wrong (the third wrong answer locks), or not judged at all
  // because the package was locked, another answer was being checked, or the person's answers being
  // judged already reached their limit.
  for (const reply of told.filter((one) => one.status !== 200)) {
    expect([410, 429]).toContain(reply.status);
    expect(reply.text).toMatch(
      /That answer is not right either\. The package is now locked|This package is locked because the answer was wrong 3 times|Another answer to this package is being checked|Too many attempts at once\. Try again in a few seconds\./,
    );
  }

  // The audit is written where each answer is judged, under the package's lock: its order is the
  // order of judgement. Contents shown = a right answer judged before the third wrong one.
  expect(kinds.slice(0, 3)).toEqual(['dopu.dropped_off', 'dopu.wrong_answer', 'dopu.wrong_answer']);
  const judged = kinds.slice(3);
  expect(judged.filter((kind) => kind === 'dopu.wrong_answer').length).toBeLessThanOrEqual(1);
  expect(judged.filter((kind) => kind === 'dopu.answered').length).toBe(opened.length + (lockedAfterRight ? 1 : 0));
  if (lockedAfterRight) expect(judged.indexOf('dopu.answered')).toBeLessThan(judged.indexOf('dopu.locked'));
  const lockedAt = judged.indexOf('dopu.locked');
  if (lockedAt >= 0) {
    expect(judged.slice(lockedAt + 1)).toEqual([]);
    expect(judged[lockedAt - 1]).toBe('dopu.wrong_answer');
  }
  const row = await server.db.knex('dopu_packages').where({ id: receipt.id }).first();
  if (lockedAt >= 0) expect([row.status, row.wrong_answers, row.sealed]).toEqual(['locked', 3, null]);
  else expect([row.status, row.wrong_answers]).toEqual(['pending', 2]);
  return { opened: opened.length, locked: lockedAt >= 0 };
}

test('20 guesses at once after 2 wrong answers: one is judged at a time, and no right one is accepted once the third wrong one counts', async () => {
  const outcomes = [];
  for (const rightAt of [0, 1, 4, 10, 19]) outcomes.push(await guessAtOnce([server.url], rightAt));
  console.log(`one instance: ${JSON.stringify(outcomes)}`);
});

// Two instances share one database only on PostgreSQL: the embedded one serves a single process
// (instances.test.ts shows the second being refused).
if (ON_POSTGRES) {
  test('the same with the guesses spread over two instances of the issuer (PostgreSQL)', async () => {
    const second = await startTestServer({ KEY_ENCRYPTION_SECRET, PICKUP_WRONG_ANSWERS_PER_PERSON: String(WRONG_ANSWERS_PER_PERSON) }, server);
    try {
      const outcomes = [];
      for (const rightAt of [0, 1, 4, 10, 19]) outcomes.push(await guessAtOnce([server.url, second.url], rightAt));
      console.log(`two instances: ${JSON.stringify(outcomes)}`);
    } finally {
      await second.stop();
    }
  });
}

test('an answer whose process died holds the package only until its judging time runs out, and its attempt stays counted', async () => {
  const receipt = await clinic.dropOff();
  const { browser } = await registeredPerson(server, 'Dana Died');
  const question = await enterCode(browser, receipt.pickup_code);
  const hold = (row: Record<string, unknown>) => server.db.knex('dopu_packages').where({ id: receipt.id }).update(row);

  // An answer is being judged (by a process that is gone): the next one waits, then is asked to try again.
  await hold({ wrong_answers: 1, judging_until: new Date(Date.now() + 60_000) });
  const waited = await answer(browser, question, ANSWER);
  expect(waited.status).toBe(429);
  expect(waited.headers.get('retry-after')).toMatch(/^\d+$/);
  expect(textOf(waited.html)).toContain('Another answer to this package is being checked. Try again in a few seconds.');

  // Its time is up: the next answer is judged, the dead one's attempt still counted as wrong.
  await hold({ judging_until: new Date(Date.now() - 1000) });
  const wrong = await answer(browser, await enterCode(browser, receipt.pickup_code), 'grey whale');
  expect(textOf(wrong.html)).toContain('That answer is not right. You have 1 more try before the package is locked.');

  // A dead third attempt locks the package at the next answer, even a right one.
  await hold({ wrong_answers: 3, judging_until: new Date(Date.now() - 1000) });
  const late = await answer(browser, await enterCode(browser, receipt.pickup_code), ANSWER);
  expect(late.status).toBe(410);
  expect(textOf(late.html)).toContain('This package is locked because the answer was wrong 3 times; its contents were deleted.');
  const row = await server.db.knex('dopu_packages').where({ id: receipt.id }).first();
  expect([row.status, row.sealed]).toEqual(['locked', null]);
  expect(await kindsAbout(receipt.id)).toEqual(['dopu.dropped_off', 'dopu.wrong_answer', 'dopu.locked']);
});

test('wrong answers count against the account across packages: past its limit, a stranger spends no more tries of anyone’s package', async () => {
  const [first, second, third] = [await clinic.dropOff(), await clinic.dropOff(), await clinic.dropOff()];
  const { browser } = await registeredPerson(server, 'Sam Stranger');
  // Three wrong answers lock the first package; a fourth, on the second, is still judged.
  let page = await enterCode(browser, first.pickup_code);
  for (const guess of ['cat toy', 'dog toy', 'fish toy']) page = await answer(browser, page, guess);
  expect(page.status).toBe(410);
  expect((await server.db.knex('dopu_packages').where({ id: first.id }).first()).status).toBe('locked');
  const fourth = await answer(browser, await enterCode(browser, second.pickup_code), 'hamster toy');
  expect(fourth.status).toBe(400);
  expect(textOf(fourth.html)).toContain('That answer is not right. You have 2 more tries before the package is locked.');

  // From here every answer from this account waits, on any package, right or wrong: none is judged.
  for (const [receipt, guess] of [
    [second, 'parrot toy'],
    [third, 'rabbit toy'],
    [third, ANSWER],
  ] as const) {
    const refused = await answer(browser, await enterCode(browser, receipt.pickup_code), guess);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(textOf(refused.html)).toContain('Too many wrong answers to packages’ questions were given from your account. Try again in 60 minutes.');
  }
  const tries = async (id: string) => (await server.db.knex('dopu_packages').where({ id }).first()).wrong_answers;
  expect([await tries(second.id), await tries(third.id)]).toEqual([1, 0]);

  // The person the packages are for is not held back by the stranger.
  const { browser: owner } = await registeredPerson(server, 'Rita Recipient');
  expect(textOf((await reachReview(owner, third.pickup_code)).html)).toContain('What is in the package');
});

test('the package rows alone do not open the contents, even with the right answer: the key needs the server’s pepper', async () => {
  const receipt = await clinic.dropOff();
  const row = await server.db.knex('dopu_packages').where({ id: receipt.id }).first();
  // Whoever copied the whole database has the salt, the sealed contents and the server's secrets as stored.
  const dump = await dumpEverything(server);
  expect(dump.text).toContain(receipt.id);
  const stored: { name: string; value: string }[] = await server.db.knex('server_secrets').select('name', 'value');
  const candidates = [undefined, ...stored.map((secret) => Buffer.from(secret.value, 'utf8'))];
  for (const pepper of candidates) expect(open(row.sealed, await deriveKey(ANSWER, row.salt, pepper), receipt.id)).toBeUndefined();
  expect(row.key_version).toBe(2);

  // With the pepper as the server holds it (sealed under KEY_ENCRYPTION_SECRET), the same answer opens them.
  const sealedPepper = stored.find((secret) => secret.name === PEPPER_SECRET)?.value ?? '';
  expect(sealedPepper).not.toBe('');
  const pepper = Buffer.from(await openSecret(sealedPepper, KEY_ENCRYPTION_SECRET), 'utf8');
  expect(open(row.sealed, await deriveKey(ANSWER, row.salt, pepper), receipt.id)?.toString('utf8')).toContain(MARKERS.condition);

  // And the person picks it up as always.
  const { browser } = await registeredPerson(server, 'Pia Pepper');
  const review = await reachReview(browser, receipt.pickup_code);
  expect(textOf(review.html)).toContain(MARKERS.condition);
  expect((await browser.submit(review, { decision: 'accept' }, '/pickup/finish')).status).toBe(200);
});

test('a package sealed before the pepper (key version 1) still opens with its answer, and only with it', async () => {
  const receipt = await clinic.dropOff();
  const row = await server.db.knex('dopu_packages').where({ id: receipt.id }).first();
  const sealedPepper = (await server.db.knex('server_secrets').where({ name: PEPPER_SECRET }).first('value')).value as string;
  const pepper = Buffer.from(await openSecret(sealedPepper, KEY_ENCRYPTION_SECRET), 'utf8');
  const contents = open(row.sealed, await deriveKey(ANSWER, row.salt, pepper), receipt.id);
  if (!contents) throw new Error('the test could not open its own package');
  // As an earlier carevault sealed it: the answer and the salt alone.
  const legacy = seal(contents, await deriveKey(ANSWER, row.salt), receipt.id);
  await server.db.knex('dopu_packages').where({ id: receipt.id }).update({ sealed: legacy, key_version: 1 });

  const { browser } = await registeredPerson(server, 'Olga Older');
  const wrong = await answer(browser, await enterCode(browser, receipt.pickup_code), 'green whale');
  expect(wrong.status).toBe(400);
  const review = await reachReview(browser, receipt.pickup_code);
  expect(textOf(review.html)).toContain(MARKERS.condition);
  const done = await browser.submit(review, { decision: 'accept' }, '/pickup/finish');
  expect(done.status).toBe(200);
  expect(textOf(done.html)).toContain('3 items from Riverside Clinic are now in Olga Older’s record.');
});
