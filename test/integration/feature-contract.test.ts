/**
 * The feature contract (src/feature.ts): an option plugs in as a folder plus one entry in the list
 * of features, and the core asks it generically. A tiny feature that exists only here — test notes —
 * is added to the server's list at start-up; its route answers, its record panel shows on /records
 * and on the record page, its audit word tells the record's history, its gauge is scraped, its
 * sweep runs, its listener starts and closes with the server, and its record-opened hook runs in
 * the transaction that opens each record, and its record-erased hook in the transaction that erases
 * one (a closed account), whose throw keeps the record. The core also runs with none of the server's own options.
 */
import express from 'express';
import { detailText } from '../../src/audit/words';
import type { Core, FeatureDefinition } from '../../src/feature';
import { FEATURES } from '../../src/features';
import { requirePerson, signedInPerson } from '../../src/http/require-person';
import { textOf } from '../support/browser';
import { signedUpPerson, type SignedUp } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';

const METRICS_TOKEN = 'metrics-token-for-tests-0123456789abcdef';

/** What the test feature saw happen, for the assertions. */
const seen = { started: 0, closed: 0, swept: 0, written: 0, opened: [] as string[], erased: [] as string[], refuseErasing: false };

/** Test notes: a person writes a note on one of their records; the note goes to the record's history. */
const notesFeature: FeatureDefinition = {
  name: 'notes',
  auditWords: {
    'notes.written': (event, { person }) => `${person} wrote a test note: ${detailText(event.details.text, '(empty)')}`,
  },
  build({ audit, records }: Pick<Core, 'audit' | 'records'>) {
    return {
      recordOpened: async (record) => {
        seen.opened.push(`${record.id} ${record.name}`);
      },
      recordErased: async (recordId) => {
        if (seen.refuseErasing) throw new Error('the test feature refuses to erase');
        seen.erased.push(recordId);
      },
      afterProvider: () => ({
        routes: () => {
          const router = express.Router();
          router.post('/test-notes/:recordId', requirePerson, express.urlencoded({ extended: false }), async (req, res) => {
            const person = signedInPerson(res);
            const record = await records.recordFor(person.id, String(req.params.recordId));
            const text = typeof req.body?.text === 'string' ? req.body.text : '';
            await audit.append({ recordId: record.id, kind: 'notes.written', personId: person.id, details: { person_name: person.name, text } });
            seen.written += 1;
            res.status(201).json({ written: true });
          });
          return router;
        },
        recordPanels: [{ heading: 'Test notes', entries: async (held) => new Map(held.map((record) => [record.id, { text: `notes about ${record.name}` }])) }],
        gauges: [{ name: 'carevault_test_notes', help: 'Test notes, by status.', statuses: ['kept', 'thrown'], count: async () => ({ kept: seen.written }) }],
        sweeps: [
          {
            name: 'testNotes',
            run: async () => {
              seen.swept += 1;
              return 7;
            },
          },
        ],
        listeners: [
          {
            name: 'testNotes',
            start: async () => {
              seen.started += 1;
            },
            close: async () => {
              seen.closed += 1;
            },
          },
        ],
      }),
    };
  },
};

let server: TestServer;
let dana: SignedUp;

beforeAll(async () => {
  server = await startTestServer({ METRICS_ENABLED: 'true', METRICS_TOKEN }, undefined, [...FEATURES, notesFeature]);
  dana = await signedUpPerson(server, 'Dana Notes');
});

afterAll(async () => {
  await server?.stop();
});

test('the record-opened hook hears of every record as it is opened', () => {
  expect(seen.opened).toContain(`${dana.record} Dana Notes`);
});

test('the listener starts with the server', () => {
  expect(seen.started).toBe(1);
  expect(seen.closed).toBe(0);
});

test('the record panel shows on /records and on the record page, beside the Direct address', async () => {
  const list = await dana.browser.visit('/records');
  expect(list.html).toMatch(/<th scope="col">Test notes<\/th>/);
  expect(list.html).toMatch(/<th scope="col">Direct address<\/th>/);
  expect(textOf(list.html)).toContain('notes about Dana Notes');
  const page = await dana.browser.visit(`/records/${dana.record}`);
  expect(textOf(page.html)).toContain('Test notes: notes about Dana Notes');
  expect(textOf(page.html)).toMatch(/Direct address: dana\.notes@/);
});

test("the route answers, and its audit event is told in the feature's words on the record's history", async () => {
  const written = await dana.browser.request(`/test-notes/${dana.record}`, { method: 'POST', form: { text: 'ate an apple' } });
  expect(written.status).toBe(201);
  const history = await dana.browser.visit(`/records/${dana.record}/history`);
  expect(textOf(history.html)).toContain('Dana Notes wrote a test note: ate an apple');
});

test('the sweep runs with the others', async () => {
  const counts = await server.sweepOnce();
  expect(counts).toMatchObject({ testNotes: 7, dopuPackages: expect.any(Number), connectRequests: expect.any(Number) });
  expect(seen.swept).toBeGreaterThanOrEqual(1);
});

test('the gauge is read on a scrape, every status at zero too', async () => {
  const res = await fetch(`${server.issuer}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  const text = await res.text();
  expect(text).toContain('# HELP carevault_test_notes Test notes, by status.');
  expect(text).toContain(`carevault_test_notes{status="kept"} ${seen.written}`);
  expect(text).toContain('carevault_test_notes{status="thrown"} 0');
  expect(text).toMatch(/carevault_dopu_packages\{status="pending"\} \d+/);
  expect(text).toContain('carevault_database_up 1');
});

test('the core runs with none of the server’s own options: only what the list names is there', async () => {
  const bare = await startTestServer({}, undefined, [notesFeature]);
  try {
    const alex = await signedUpPerson(bare, 'Alex Bare');
    const list = await alex.browser.visit('/records');
    expect(list.html).toMatch(/<th scope="col">Test notes<\/th>/);
    expect(list.html).not.toContain('Direct address');
    expect((await fetch(`${bare.issuer}/api/dopu/packages`, { method: 'POST' })).status).toBe(404);
    expect((await alex.browser.request('/inbox')).status).toBe(404);
    expect(Object.keys(await bare.sweepOnce()).sort()).toEqual(['interactionTraces', 'models', 'rateLimits', 'registrationMail', 'testNotes']);
  } finally {
    await bare.stop();
  }
  expect(seen.closed).toBe(1);
});

test('the record-erased hook runs when an account closes, and its throw keeps the record and the account', async () => {
  const kept = await signedUpPerson(server, 'Kept Notes');
  seen.refuseErasing = true;
  const refused = await kept.browser.submit(await kept.browser.visit('/account/close'), { password: kept.person.password }, '/account/close');
  seen.refuseErasing = false;
  expect(refused.status).toBe(500);
  expect(await server.db.knex('records').where({ id: kept.record }).first('id')).toEqual({ id: kept.record });
  expect(await server.db.knex('people').where({ email: kept.person.email }).first('email')).toEqual({ email: kept.person.email });
  expect(seen.erased).not.toContain(kept.record);

  const closed = await kept.browser.submit(await kept.browser.visit('/account/close'), { password: kept.person.password }, '/account/close', { follow: false });
  expect(closed.status).toBe(303);
  expect(seen.erased).toContain(kept.record);
  expect(await server.db.knex('records').where({ id: kept.record }).first('id')).toBeUndefined();
});
