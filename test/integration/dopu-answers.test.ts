/**
 * The secret answer under attack (DESIGN.md "DOPU": locked after 3 wrong answers): someone holding
 * a pickup code posts many guesses at once, on one instance or on two of the same issuer; the
 * answers are judged one at a time, so of all the guesses only three wrong ones are ever judged
 * and the contents are never shown once the third is counted.
 */
import { Browser, textOf, type PageResponse } from '../support/browser';
import { ANSWER, answer, clinicApp, enterCode, registeredPerson, type Dropper } from '../support/dopu';
import { loadConfig } from '../../src/config';
import { startTestServer, type TestServer } from '../support/server';

const ON_POSTGRES = Boolean(loadConfig().databaseUrl);

let server: TestServer;
let clinic: Dropper;

beforeAll(async () => {
  server = await startTestServer();
  clinic = await clinicApp(server, 'Riverside Clinic');
});

afterAll(async () => {
  await server?.stop();
});

const kindsAbout = (id: string): Promise<string[]> => server.db.knex('audit_events').where({ subject: `package:${id}` }).orderBy('id').pluck('kind');

type Answered = { guess: string; status: number; text: string };

/** Posts the question page's form straight to `base` (the page's own instance or another one of the issuer). */
async function postAnswer(base: string, browser: Browser, question: PageResponse, guess: string): Promise<Answered> {
  const field = (name: string) => question.html.match(new RegExp(`name="${name}" value="([^"]*)"`))?.[1] ?? '';
  const res = await fetch(`${base}/pickup/answer`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', cookie: browser.cookiesFor('/pickup/answer') },
    body: new URLSearchParams({ _csrf: field('_csrf'), code: field('code'), answer: guess }).toString(),
    redirect: 'manual',
  });
  return { guess, status: res.status, text: textOf(await res.text()) };
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
  const opened = told.filter((reply) => reply.status === 200);
  for (const reply of opened) {
    expect(reply.guess).toBe(ANSWER);
    expect(reply.text).toContain('What is in the package');
  }
  // Every other guess is refused: judged wrong (the third wrong answer locks), or not judged at all
  // because the package was locked or another answer was being checked.
  for (const reply of told.filter((one) => one.status !== 200)) {
    expect([410, 429]).toContain(reply.status);
    expect(reply.text).toMatch(/That answer is not right either\. The package is now locked|This package is locked because the answer was wrong 3 times|Another answer to this package is being checked/);
  }

  // The audit is written where each answer is judged, under the package's lock: its order is the
  // order of judgement. Contents shown = a right answer judged before the third wrong one.
  expect(kinds.slice(0, 3)).toEqual(['dopu.dropped_off', 'dopu.wrong_answer', 'dopu.wrong_answer']);
  const judged = kinds.slice(3);
  expect(judged.filter((kind) => kind === 'dopu.wrong_answer').length).toBeLessThanOrEqual(1);
  expect(judged.filter((kind) => kind === 'dopu.answered').length).toBe(opened.length);
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

test('the same with the guesses spread over two instances of the issuer (PostgreSQL)', async () => {
  if (!ON_POSTGRES) return; // the embedded database serves one process (instances.test.ts)
  const second = await startTestServer({}, server);
  try {
    const outcomes = [];
    for (const rightAt of [0, 1, 4, 10, 19]) outcomes.push(await guessAtOnce([server.url, second.url], rightAt));
    console.log(`two instances: ${JSON.stringify(outcomes)}`);
  } finally {
    await second.stop();
  }
});
