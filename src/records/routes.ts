/**
 * The person's records: `/records` (their own and those of people in their care, and adding one),
 * `/records/<id>` and `/records/<id>/history`. Only a record's custodians see it; to anyone else
 * it does not exist (404).
 */
import express, { type Request, type Response } from 'express';
import type { Person } from '../accounts/service';
import { groupHistory } from '../audit/grouping';
import type { AuditLog } from '../audit/service';
import type { RecordRepositories } from '../fhir/repository';
import { firstMessage } from '../http/forms';
import { sendPage } from '../http/render';
import { requirePerson } from '../http/require-person';
import { CATALOGUE, isRecordType } from '../rules/catalogue';
import type { Csrf } from '../security/csrf';
import { capitalize } from '../text';
import { chartsForRecord } from './chart-data';
import { RELATIONSHIP_WORDS, recordInCareForm } from './schemas';
import type { RecordService, RecordSummary } from './service';

type Deps = {
  records: RecordService;
  repositories: RecordRepositories;
  audit: AuditLog;
  csrf: Csrf;
  /** Each record's Direct address, when Direct messaging is there to give them. */
  addressesOf?: (records: readonly RecordSummary[]) => Promise<ReadonlyMap<string, string>>;
};

export function recordRoutes({ records, repositories, audit, csrf, addressesOf }: Deps): express.Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 });

  const showRecords = async (res: Response, person: Person, status = 200, values: Record<string, string> = {}, error?: string) => {
    const held = await records.recordsOf(person.id);
    const addresses = addressesOf ? await addressesOf(held) : undefined;
    await sendPage(res, status, 'records/list', { title: 'Records', records: held, addresses, relationships: RELATIONSHIP_WORDS, values, error });
  };

  /** The record, when the signed-in person is one of its custodians. */
  const recordFor = (req: Request, res: Response) => records.recordFor((res.locals.person as Person).id, String(req.params.id ?? ''));

  router.get('/records', requirePerson, csrf.issue, async (_req, res) => {
    await showRecords(res, res.locals.person as Person);
  });

  router.post('/records', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const person = res.locals.person as Person;
    const body = (req.body ?? {}) as Record<string, unknown>;
    const values = Object.fromEntries(['name', 'birth_date', 'relationship'].map((key) => [key, typeof body[key] === 'string' ? (body[key] as string) : '']));
    const input = recordInCareForm.safeParse(body);
    if (!input.success) {
      await showRecords(res, person, 400, values, firstMessage(input.error));
      return;
    }
    await records.open(person, { name: input.data.name, birthDate: input.data.birth_date, relationship: input.data.relationship });
    res.redirect(303, '/records');
  });

  // csrf.issue: the page carries the Import form (transfer-routes.ts).
  router.get('/records/:id', requirePerson, csrf.issue, async (req, res) => {
    const person = res.locals.person as Person;
    const record = await recordFor(req, res);
    const contents = await repositories.forRecord(record.id, { kind: 'person', personId: person.id, name: person.name }).contents();
    const groups = contents.map((group) => ({
      ...group,
      heading: isRecordType(group.type) ? capitalize(CATALOGUE[group.type].nouns[1]) : group.type,
    }));
    const charts = await chartsForRecord(repositories.forRecord(record.id, { kind: 'person', personId: person.id, name: person.name }, { audited: false }));
    await sendPage(res, 200, 'records/show', { title: record.name, record, groups, charts });
  });

  router.get('/records/:id/history', requirePerson, async (req, res) => {
    const record = await recordFor(req, res);
    const days = groupHistory(await audit.history(record.id));
    await sendPage(res, 200, 'records/history', { title: `History of ${record.name}`, record, days });
  });

  return router;
}
