/**
 * The person's records: `/records` (their own and those of people in their care, and adding one),
 * `/records/<id>`, each item of it at `/records/<id>/items/<Type>/<itemId>` (in words, with where
 * it came from and how many versions it has) and `/records/<id>/history`. Only a record's
 * custodians see it; to anyone else it does not exist (404), exactly like an unknown id. Features
 * show what they keep for each record as record panels (a column on /records, a line on the record
 * page). Times are shown in the person's time zone (UTC until their browser has told it).
 */
import express, { type Request, type Response } from 'express';
import { personActor, type Person } from '../accounts/person';
import { groupHistory } from '../audit/grouping';
import type { AuditLog } from '../audit/service';
import type { PanelEntry, RecordPanel } from '../feature';
import { ResourceDeleted, ResourceNotFound } from '../fhir/errors';
import type { RecordRepositories } from '../fhir/repository';
import { summarize } from '../fhir/summary';
import { firstMessage } from '../http/forms';
import { sendPage } from '../http/render';
import { requirePerson, signedInPerson } from '../http/require-person';
import { CATALOGUE, isRecordType } from '../rules/catalogue';
import type { Csrf } from '../security/csrf';
import { NotFound } from '../errors';
import { capitalize } from '../text';
import { attachmentOf, itemFacts, whenText } from './item-facts';
import { chartsForRecord } from './chart-data';
import { allows, LEVEL_WORDS } from './access';
import { RELATIONSHIP_WORDS, recordInCareForm } from './schemas';
import type { RecordService, RecordSummary } from './service';
import { originsOf } from './origins';

/** FHIR's id: https://hl7.org/fhir/R4/datatypes.html#id */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** The zone the person's pages show times in. */
const timeZoneOf = (person: Person): string => person.timeZone ?? 'UTC';

type Deps = {
  records: RecordService;
  repositories: RecordRepositories;
  audit: AuditLog;
  csrf: Csrf;
  /** What features show for each record. */
  panels: readonly RecordPanel[];
};

/** A panel's heading and its entry for each record, by record id, in the panels' order (one after the other). */
type ShownPanel = { heading: string; entries: ReadonlyMap<string, PanelEntry> };

export function recordRoutes({ records, repositories, audit, csrf, panels }: Deps): express.Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 });

  const panelsFor = async (held: readonly RecordSummary[]): Promise<ShownPanel[]> => {
    const shown: ShownPanel[] = [];
    for (const panel of panels) shown.push({ heading: panel.heading, entries: await panel.entries(held) });
    return shown;
  };

  const showRecords = async (res: Response, person: Person, status = 200, values: Record<string, string> = {}, error?: string) => {
    const held = await records.recordsOf(person.id);
    await sendPage(res, status, 'records/list', {
      title: 'Records',
      records: held,
      panels: await panelsFor(held),
      relationships: RELATIONSHIP_WORDS,
      values,
      error,
    });
  };

  /** The record, when the signed-in person holds it (any level reads). */
  const recordFor = (req: Request, res: Response) => records.recordFor(signedInPerson(res).id, String(req.params.id ?? ''));

  router.get('/records', requirePerson, csrf.issue, async (_req, res) => {
    await showRecords(res, signedInPerson(res));
  });

  router.post('/records', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const person = signedInPerson(res);
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
    const person = signedInPerson(res);
    const record = await recordFor(req, res);
    const contents = await repositories.forRecord(record.id, personActor(person)).contents();
    const groups = contents.map((group) => ({
      ...group,
      heading: isRecordType(group.type) ? capitalize(CATALOGUE[group.type].nouns[1]) : group.type,
    }));
    const charts = await chartsForRecord(repositories.forRecord(record.id, personActor(person), { audited: false }));
    const origins = await originsOf(repositories.forRecord(record.id, personActor(person), { audited: false }));
    const zone = timeZoneOf(person);
    await sendPage(res, 200, 'records/show', {
      title: record.name,
      record,
      groups: groups.map((group) => ({
        ...group,
        items: group.items.map((item) => ({
          ...item,
          updated: whenText(item.lastUpdated.toISOString(), zone),
          origin: origins.get(`${group.type}/${item.id}`),
        })),
      })),
      charts,
      panels: await panelsFor([record]),
      zone,
      accessWords: LEVEL_WORDS[record.access],
      mayShare: allows(record.access, 'share'),
      mayChange: allows(record.access, 'change'),
    });
  });

  router.get('/records/:id/items/:type/:itemId', requirePerson, async (req, res) => {
    const person = signedInPerson(res);
    const record = await recordFor(req, res);
    const type = String(req.params.type ?? '');
    const itemId = String(req.params.itemId ?? '');
    // An id FHIR could not have is as unknown as one that is not there.
    if (!isRecordType(type) || !FHIR_ID.test(itemId)) throw new NotFound('There is no such item in this record.');
    const repository = repositories.forRecord(record.id, personActor(person), { audited: false });
    const item = await repository.read(type, itemId);
    const versions = await repository.history(type, itemId, { count: 1 });
    // No first version to read (it is not kept): the item's own time stands for it; a failure of the database is not that.
    const first = await repository.readVersion(type, itemId, 1).catch((error: unknown) => {
      if (error instanceof ResourceNotFound || error instanceof ResourceDeleted) return undefined;
      throw error;
    });
    const zone = timeZoneOf(person);
    const meta = (item.content.meta ?? {}) as { source?: unknown };
    const source = await audit.sourceOf(record.id, type, (first ?? item).lastUpdated);
    const origin = (await originsOf(repository)).get(`${type}/${itemId}`);
    await sendPage(res, 200, 'records/item', {
      title: `${summarize(item.content)} · ${record.name}`,
      record,
      type,
      noun: capitalize(CATALOGUE[type].nouns[0]),
      summary: summarize(item.content),
      facts: itemFacts(item.content, zone),
      attachment: type === 'DocumentReference' ? attachmentOf(item.content, `/records/${record.id}/documents/${itemId}`) : undefined,
      lastUpdated: whenText(item.lastUpdated.toISOString(), zone),
      reportedSource: typeof meta.source === 'string' && meta.source ? meta.source : undefined,
      source: source ? { ...source, when: whenText(source.when.toISOString(), zone) } : undefined,
      origin,
      versions: versions.total,
      zone,
    });
  });

  router.get('/records/:id/history', requirePerson, async (req, res) => {
    const person = signedInPerson(res);
    const record = await recordFor(req, res);
    const zone = timeZoneOf(person);
    const days = groupHistory(await audit.history(record.id), zone);
    await sendPage(res, 200, 'records/history', { title: `History of ${record.name}`, record, days, zone });
  });

  return router;
}
