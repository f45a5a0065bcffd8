/**
 * How the record repository audits (src/fhir/repository.ts, audit/store.ts `audited`): every read
 * and write the record's history shows appends its one line in the statement that does the work —
 * one round trip — and only when the work was done; a search, a history page and $everything count
 * what they found; a repository opened without auditing writes no line.
 */
import { createRecordRepositories } from '../../src/fhir/repository';
import { emptyCriteria, parseCondition } from '../../src/fhir/search';
import { authorizedApp, weight } from '../support/authorized';
import { startTestServer, type TestServer } from '../support/server';
import { statementsOf } from '../support/statements';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

type Line = { kind: string; client_id: string | null; person_id: string | null; details: Record<string, unknown> };

/** What `work` sent to the database, and the audit lines it appended to `record`. */
async function observed<T>(record: string, work: () => Promise<T>): Promise<{ result: T; statements: string[]; lines: Line[] }> {
  const [{ last }] = (await server.db.knex('audit_events').max({ last: 'id' })) as [{ last: string | null }];
  const { result, statements } = await statementsOf(server.db, work);
  const lines = (await server.db
    .knex('audit_events')
    .where({ record_id: record })
    .andWhere('id', '>', last ?? 0)
    .orderBy('id')) as Line[];
  return { result, statements, lines: lines.map(({ kind, client_id, person_id, details }) => ({ kind, client_id, person_id, details })) };
}

test('each read and write appends its line in the statement that does it, counting what was found', async () => {
  const holder = await authorizedApp(server, 'Audrey Trail');
  const { record } = holder;
  const clientId = holder.app.clientId;
  const repository = createRecordRepositories(server.db, { fhirBase: `${server.issuer}/fhir` }).forRecord(record, { kind: 'app', clientId });
  const line = (kind: string, count: number) => ({ kind, client_id: clientId, person_id: null, details: { type: 'Observation', count } });

  const created = await observed(record, () => repository.create('Observation', weight(70)));
  expect([created.statements.length, created.lines]).toEqual([1, [line('fhir.created', 1)]]);
  const id = String(created.result.content.id);

  const read = await observed(record, () => repository.read('Observation', id));
  expect([read.statements.length, read.lines]).toEqual([1, [line('fhir.read', 1)]]);

  const updated = await observed(record, () => repository.update('Observation', id, { ...weight(71), id }));
  expect([updated.statements.length, updated.lines]).toEqual([2, [line('fhir.updated', 1)]]);
  expect(updated.result.versionId).toBe(2);

  const version = await observed(record, () => repository.readVersion('Observation', id, 1));
  expect([version.statements.length, version.lines]).toEqual([1, [line('fhir.read', 1)]]);

  const history = await observed(record, () => repository.history('Observation', id, { count: 1 }));
  expect([history.statements.length, history.lines, history.result.total]).toEqual([1, [line('fhir.history', 1)], 2]);

  await repository.create('Observation', weight(72));
  const searched = await observed(record, () => repository.search('Observation', emptyCriteria()));
  expect([searched.statements.length, searched.lines, searched.result.total]).toEqual([1, [line('fhir.searched', 2)], 2]);
  // Naming another record's patient matches nothing here, and says so in the history.
  const elsewhere = await observed(record, () => repository.search('Observation', { ...emptyCriteria(), patients: ['someone-else'] }));
  expect([elsewhere.result.total, elsewhere.lines]).toEqual([0, [line('fhir.searched', 0)]]);

  const everything = await observed(record, () => repository.everything(['Patient', 'Observation'], { count: 10 }));
  expect([everything.statements.length, everything.lines]).toEqual([1, [{ ...line('fhir.everything', 3), details: { type: 'Patient', count: 3 } }]]);

  const removed = await observed(record, () => repository.remove('Observation', id));
  expect([removed.statements.length, removed.lines]).toEqual([1, [line('fhir.deleted', 1)]]);

  // Nothing done, nothing appended: a deleted resource read, its deletion read as a version, deleted again, a history of nothing.
  for (const attempt of [
    () => repository.read('Observation', id),
    () => repository.readVersion('Observation', id, 3),
    () => repository.remove('Observation', id),
    () => repository.history('Observation', 'never-there', { count: 5 }),
  ]) {
    const quiet = await observed(record, () => attempt().catch((error: unknown) => error));
    expect(quiet.lines).toEqual([]);
  }
});

test('a conditional create that finds its match reads it; a person is named; a repository opened without auditing appends nothing', async () => {
  const holder = await authorizedApp(server, 'Connie Dition');
  const { record } = holder;
  const { person_id: personId } = (await server.db.knex('custodianships').where({ record_id: record }).first('person_id')) as { person_id: string };
  const person = { kind: 'person', personId, name: 'Connie Dition' } as const;
  const details = { type: 'Observation', count: 1, person_name: 'Connie Dition' };
  const personLine = (kind: string) => ({ kind, client_id: null, person_id: personId, details });
  const repositories = createRecordRepositories(server.db, { fhirBase: `${server.issuer}/fhir` });
  const repository = repositories.forRecord(record, person);
  const tagged = { ...weight(60), code: { coding: [{ system: 'https://scale.example', code: 'reading-1' }] } };
  const criteria = parseCondition('Observation', 'code=https://scale.example|reading-1', 'If-None-Exist');

  const first = await observed(record, () => repository.createIfNoneExist('Observation', tagged, criteria));
  expect(first.result.created).toBe(true);
  expect(first.lines).toEqual([personLine('fhir.created')]);
  const again = await observed(record, () => repository.createIfNoneExist('Observation', tagged, criteria));
  expect(again.result).toMatchObject({ created: false, resource: { content: { id: first.result.resource.content.id } } });
  expect(again.lines).toEqual([personLine('fhir.read')]);

  const quiet = repositories.forRecord(record, person, { audited: false });
  const unaudited = await observed(record, async () => {
    const made = await quiet.create('Observation', weight(61));
    await quiet.read('Observation', String(made.content.id));
    await quiet.search('Observation', emptyCriteria());
  });
  expect(unaudited.lines).toEqual([]);
});
