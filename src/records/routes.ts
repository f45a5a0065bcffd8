/**
 * The person's records: `/records` (their own and those of people in their care, and adding one),
 * `/records/<id>` and `/records/<id>/history`. Only a record's custodians see it; to anyone else
 * it does not exist (404).
 */
import express, { type Request, type Response } from 'express';
import { RELATIONSHIP_WORDS, firstMessage, recordInCareForm } from '../accounts/schemas';
import type { AccountService, Person } from '../accounts/service';
import type { AuditLog } from '../audit/service';
import type { FhirService } from '../fhir/service';
import { TYPE_NOUNS, isRecordType } from '../rules/catalogue';
import { NotFound } from '../http/errors';
import { isUuid } from '../http/params';
import { sendPage } from '../http/render';
import type { Csrf } from '../security/csrf';
import { requirePerson } from '../http/require-person';

type Deps = { accounts: AccountService; audit: AuditLog; fhir: FhirService; csrf: Csrf };

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function recordRoutes({ accounts, audit, fhir, csrf }: Deps): express.Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 });

  const showRecords = async (res: Response, person: Person, status = 200, values: Record<string, string> = {}, error?: string) => {
    const records = await accounts.recordsOf(person.id);
    await sendPage(res, status, 'records/list', { title: 'Records', records, relationships: RELATIONSHIP_WORDS, values, error });
  };

  /** The record, when the signed-in person is one of its custodians. */
  const recordFor = async (req: Request, person: Person) => {
    const id = String(req.params.id ?? '');
    if (!isUuid(id)) throw new NotFound();
    const record = (await accounts.recordsOf(person.id)).find((candidate) => candidate.id === id);
    if (!record) throw new NotFound();
    return record;
  };

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
    await accounts.addRecordInCare(person.id, input.data);
    res.redirect(303, '/records');
  });

  router.get('/records/:id', requirePerson, async (req, res) => {
    const record = await recordFor(req, res.locals.person as Person);
    const groups = (await fhir.contentsOf(record.id)).map((group) => ({
      ...group,
      heading: isRecordType(group.type) ? capitalize(TYPE_NOUNS[group.type][1]) : group.type,
    }));
    await sendPage(res, 200, 'records/show', { title: record.name, record, groups });
  });

  router.get('/records/:id/history', requirePerson, async (req, res) => {
    const record = await recordFor(req, res.locals.person as Person);
    const lines = await audit.history(record.id);
    await sendPage(res, 200, 'records/history', { title: `History of ${record.name}`, record, lines });
  });

  return router;
}
