/**
 * DOPU's limits: three wrong answers lock a package
 * for good; after 28 days it expires (a test clock: the package's `expires_at` is moved into the
 * past) — on the page, in the app's status and by the sweep; of 20 concurrent pickups exactly one
 * writes; a ticket works only for its person and their records; a dump of every table shows
 * neither the answer nor any resource text nor the code; and code guessing is limited per address
 * (last: it locks this file's address).
 */
import { Browser, textOf } from '../support/browser';
import {
  ANSWER,
  addChild,
  answer,
  clinicApp,
  dumpEverything,
  enterCode,
  reachReview,
  registeredPerson,
  sampleResources,
  smallPdf,
  type Dropper,
} from '../support/dopu';
import { ownRecordOf, startTestServer, type TestServer } from '../support/server';

const CODE_FAILURES = 5;

let server: TestServer;
let clinic: Dropper;

beforeAll(async () => {
  server = await startTestServer({ PICKUP_CODE_FAILURES_PER_ADDRESS: String(CODE_FAILURES) });
  clinic = await clinicApp(server, 'Riverside Clinic');
});

afterAll(async () => {
  await server?.stop();
});

const kindsAbout = (id: string) =>
  server.db
    .knex('audit_events')
    .where({ subject: `package:${id}` })
    .orderBy('id')
    .pluck('kind');

test('three wrong answers lock the package for good; the app sees `locked`', async () => {
  const receipt = await clinic.dropOff();
  const { browser } = await registeredPerson(server, 'Lou Locke');
  let question = await enterCode(browser, receipt.pickup_code);
  expect(textOf(question.html)).toContain('After 3 wrong answers the package is locked for good.');

  const first = await answer(browser, question, 'green whale');
  expect(first.status).toBe(400);
  expect(textOf(first.html)).toContain('That answer is not right. You have 2 more tries before the package is locked.');
  const second = await answer(browser, first, 'blue whal');
  expect(second.status).toBe(400);
  expect(textOf(second.html)).toContain('That answer is not right. You have 1 more try before the package is locked.');
  expect(textOf(second.html)).toContain('After 1 more wrong answer the package is locked for good.');
  const third = await answer(browser, second, 'blue-whale');
  expect(third.status).toBe(410);
  expect(textOf(third.html)).toContain(
    'That answer is not right either. The package is now locked because the answer was wrong 3 times, and its contents were deleted. Ask Riverside Clinic to send it again if you still need it.',
  );

  // The right answer no longer helps, for anyone.
  const right = await answer(browser, second, ANSWER);
  expect(right.status).toBe(410);
  expect(textOf(right.html)).toContain('This package is locked because the answer was wrong 3 times');
  question = await enterCode(new Browser(server.issuer), receipt.pickup_code);
  expect(question.status).toBe(410);
  expect(textOf(question.html)).toContain('This package is locked because the answer was wrong 3 times; its contents were deleted.');

  expect((await clinic.call(`/api/dopu/packages/${receipt.id}`)).body.status).toBe('locked');
  const row = await server.db.knex('dopu_packages').where({ id: receipt.id }).first();
  expect([row.status, row.wrong_answers, row.sealed]).toEqual(['locked', 3, null]);
  expect(await kindsAbout(receipt.id)).toEqual(['dopu.dropped_off', 'dopu.wrong_answer', 'dopu.wrong_answer', 'dopu.wrong_answer', 'dopu.locked']);
});

test('28 days: an expired package is refused on the page, `expired` for the app, and swept', async () => {
  const { browser } = await registeredPerson(server, 'Exa Pired');
  const clock = (id: string, expiresAt: Date) => server.db.knex('dopu_packages').where({ id }).update({ expires_at: expiresAt });

  // Just before its 28 days are up it can be picked up; from the moment they are, it cannot.
  const read = await clinic.dropOff();
  await clock(read.id, new Date(Date.now() + 60_000));
  expect((await enterCode(browser, read.pickup_code)).status).toBe(200);
  await clock(read.id, new Date(Date.now() - 1000));
  const page = await enterCode(browser, read.pickup_code);
  expect(page.status).toBe(410);
  expect(textOf(page.html)).toMatch(
    /This package expired on \d{1,2} [A-Z][a-z]{2} \d{4}, 28 days after Riverside Clinic dropped it off; its contents were deleted\./,
  );
  expect((await clinic.call(`/api/dopu/packages/${read.id}`)).body.status).toBe('expired');

  // A package nobody looks at is marked by the sweep, its contents deleted.
  const swept = await clinic.dropOff();
  await clock(swept.id, new Date(Date.now() - 1000));
  const untouched = await server.db.knex('dopu_packages').where({ id: swept.id }).first();
  expect([untouched.status, untouched.sealed === null]).toEqual(['pending', false]);
  const counts = await server.sweepOnce();
  expect(counts.dopuPackages).toBe(1);
  const after = await server.db.knex('dopu_packages').where({ id: swept.id }).first();
  expect([after.status, after.sealed]).toEqual(['expired', null]);
  expect((await server.sweepOnce()).dopuPackages).toBe(0);
  expect((await clinic.call(`/api/dopu/packages/${swept.id}`)).body.status).toBe('expired');
  expect(textOf((await enterCode(browser, swept.pickup_code)).html)).toContain('28 days after Riverside Clinic dropped it off');
  expect(await kindsAbout(swept.id)).toEqual(['dopu.dropped_off', 'dopu.expired']);

  // A review page opened before the expiry cannot be accepted after it.
  const late = await clinic.dropOff();
  const review = await reachReview(browser, late.pickup_code);
  await clock(late.id, new Date(Date.now() - 1000));
  const accepted = await browser.submit(review, { decision: 'accept' }, '/pickup/finish');
  expect(textOf(accepted.html)).toContain('Not picked up');
  expect(textOf(accepted.html)).toContain('This package expired on');
  const list = await clinic.call('/api/dopu/packages?status=expired');
  expect(list.body.packages.map((entry: { id: string }) => entry.id).sort()).toEqual([read.id, swept.id, late.id].sort());
});

test('20 concurrent pickups: exactly one writes, the others see "already picked up"', async () => {
  const receipt = await clinic.dropOff();
  // Four people with the code and the answer, each sending Accept five times at once.
  const people = await Promise.all(['Ana', 'Ben', 'Cy', 'Dot'].map((name) => registeredPerson(server, `${name} Racer`)));
  const reviews = await Promise.all(people.map(({ browser }) => reachReview(browser, receipt.pickup_code)));
  for (const review of reviews) expect(textOf(review.html)).toContain('What is in the package');
  const started = Date.now();
  const results = await Promise.all(
    people.flatMap(({ browser }, index) => Array.from({ length: 5 }, () => browser.submit(reviews[index] as never, { decision: 'accept' }, '/pickup/finish'))),
  );
  const took = Date.now() - started;
  // Each browser's five clicks end on one page telling how its pickup ended: the first ending
  // counts, so the winner's extra clicks never turn its success into "already picked up".
  const wrote = results.filter((page) => textOf(page.html).includes('3 items from Riverside Clinic are now in'));
  const refused = results.filter((page) => textOf(page.html).includes('This package has already been picked up.'));
  const failed = results.filter((page) => page.status >= 500);
  console.log(`20 pickups: ${wrote.length} told picked up, ${refused.length} told already picked up, ${failed.length} 5xx, in ${took} ms`);
  expect([wrote.length, refused.length, failed.length]).toEqual([5, 15, 0]);
  expect(new Set(wrote.map((page) => page.html)).size).toBe(1);
  expect(textOf(wrote[0]?.html ?? '')).toMatch(/Picked up into \w+ Racer ?’s record/);

  // Three resources in one record, none anywhere else.
  const records = await Promise.all(people.map(({ person }) => ownRecordOf(server, person.email)));
  const written = await server.db.knex('resources').whereIn('record_id', records).whereNot({ type: 'Patient' }).select('record_id', 'type');
  expect(written).toHaveLength(3);
  expect(new Set(written.map((row) => row.record_id)).size).toBe(1);
  // Each of the four answered right (and saw the contents); one picked up.
  expect(await kindsAbout(receipt.id)).toEqual(['dopu.dropped_off', 'dopu.answered', 'dopu.answered', 'dopu.answered', 'dopu.answered', 'dopu.picked_up']);
  expect((await clinic.call(`/api/dopu/packages/${receipt.id}`)).body.status).toBe('picked_up');
});

test('a ticket works only for the person who answered, and only into their own records', async () => {
  const receipt = await clinic.dropOff();
  const alice = await registeredPerson(server, 'Alice Answer');
  const mallory = await registeredPerson(server, 'Mallory Other');
  const child = await addChild(server, alice.browser, 'Kit Answer');
  const review = await reachReview(alice.browser, receipt.pickup_code, ANSWER, child);
  expect(textOf(review.html)).toMatch(/these go into Kit Answer ?’s record/);
  expect(review.html).not.toContain('name="ticket"'); // the opened package is never in a form or a URL

  // Mallory, signed in in her own browser, presents Alice's pickup cookie: the step is Alice's alone.
  const malloryPage = await mallory.browser.visit('/pickup');
  const alicePickup = /cv\.pickup=([^;]+)/.exec(alice.browser.cookiesFor('/pickup/finish'))?.[1] ?? '';
  expect(alicePickup).not.toBe('');
  const stolen = await fetch(`${server.issuer}/pickup/finish`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: mallory.browser.cookiesFor('/pickup/finish').replace(/cv\.pickup=[^;]+/, `cv.pickup=${alicePickup}`),
    },
    body: new URLSearchParams({ _csrf: malloryPage.html.match(/name="_csrf" value="([^"]+)"/)?.[1] ?? '', decision: 'accept' }).toString(),
    redirect: 'manual',
  });
  expect([stolen.status, stolen.headers.get('location')]).toEqual([303, '/pickup']);
  expect((await clinic.call(`/api/dopu/packages/${receipt.id}`)).body.status).toBe('pending');

  // Alice names Mallory's record: refused, and the choice stays among hers.
  const chooser = await alice.browser.visit('/pickup/record');
  const other = await alice.browser.submit(chooser, { record: await ownRecordOf(server, mallory.person.email) }, '/pickup/record');
  expect(other.status).toBe(400);
  expect(textOf(other.html)).toContain('Choose the record it goes into.');
  await alice.browser.submit(chooser, { record: child }, '/pickup/record');

  // Not signed in at all: no CSRF token, so the form did not come from carevault.
  const anonymous = await new Browser(server.issuer).request('/pickup/finish', { form: { decision: 'accept' } });
  expect(anonymous.status).toBe(403);

  const done = await alice.browser.submit(review, { decision: 'accept' }, '/pickup/finish');
  expect(done.status).toBe(200);
  expect(textOf(done.html)).toMatch(/3 items from Riverside Clinic are now in Kit Answer ?’s record\./);
  expect(await server.db.knex('resources').where({ record_id: child }).whereNot({ type: 'Patient' }).count<{ count: string }[]>('* as count')).toEqual([
    { count: '3' },
  ]);
});

test('a dump of every table shows neither the answer, nor any resource text, nor the code', async () => {
  // Text of its own, so resources picked up by the tests above cannot stand in for it.
  const unique = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const marker = `Okapi-${unique}-secret-finding`;
  const note = `Pangolin-${unique}-note`;
  const pdfText = `Axolotl letter ${unique}`;
  const pdf = smallPdf(pdfText);
  const [observation, condition, document] = sampleResources() as Record<string, any>[];
  const resources = [
    { ...observation, note: [{ text: note }] },
    { ...condition, code: { text: marker } },
    { ...document, content: [{ attachment: { contentType: 'application/pdf', title: 'letter.pdf', data: pdf.toString('base64') } }] },
  ];
  const email = `dump-${unique}@example.org`;
  const receipt = await clinic.dropOff({ resources, email, answer: 'Sea  Otter Pup' });
  // Someone also got one answer wrong: still nothing readable.
  const { browser } = await registeredPerson(server, 'Dum Ptest');
  expect((await answer(browser, await enterCode(browser, receipt.pickup_code), 'river otter')).status).toBe(400);

  const dump = await dumpEverything(server);
  console.log(`dump: ${dump.tables} tables, ${dump.rows} rows, ${dump.text.length} characters`);
  expect(dump.tables).toBeGreaterThan(8);
  const code = receipt.pickup_code;
  // The base64 of the bytes around the PDF's text (aligned to 3 bytes, so it is a part of the whole).
  const at = Math.floor(pdf.indexOf(pdfText) / 3) * 3;
  const forbidden = {
    'the answer': 'Sea  Otter Pup',
    'the answer, normalized': 'sea otter pup',
    'the wrong answer': 'river otter',
    'resource text': marker,
    'an Observation note': note,
    'the PDF (base64)': pdf.toString('base64'),
    'the PDF text (base64)': pdf.subarray(at, at + 30).toString('base64'),
    'the PDF text': pdfText,
    'the code': code,
    'the code, normalized': code.replace(/-/g, ''),
    'the email address': email,
  };
  for (const [what, text] of Object.entries(forbidden)) {
    expect([what, dump.text.includes(text)]).toEqual([what, false]);
  }
  // What is there: the package's facts and the question, which the person sees before answering.
  expect(dump.text).toContain(receipt.id);
});

test('code guessing is limited per address: after 5 unknown codes, even a right code waits', async () => {
  const receipt = await clinic.dropOff();
  const browser = new Browser(server.issuer);
  for (let i = 0; i < CODE_FAILURES; i += 1) {
    const page = await enterCode(browser, 'BBBB-BBBB-BBBB-BBBB-BBB' + 'CDFGH'[i]);
    expect(page.status).toBe(404);
  }
  const locked = await enterCode(browser, receipt.pickup_code);
  expect(locked.status).toBe(429);
  expect(locked.headers.get('retry-after')).toMatch(/^\d+$/);
  expect(textOf(locked.html)).toContain('Too many wrong pickup codes were tried from your network. Try again in 60 minutes.');
});
