/**
 * A person's whole record in and out, their right of access: "Download my record" gives
 * every resource of the record as one FHIR Bundle (type `collection`, JSON); "Import" takes a
 * Bundle file, shows first what it would add in plain words (a dry run of the very transaction,
 * rolled back, so the review fails exactly where the import would), then writes it in one
 * transaction with one audit event naming the file. Each review and each import validates a whole
 * file (up to 5 MB): a person may ask for so many of them an hour (the `imports-person` rate),
 * counted before the work. https://hl7.org/fhir/R4/bundle.html
 */
import { personActor, type Person } from '../accounts/person';
import type { AuditLog } from '../audit/service';
import { DomainError } from '../errors';
import { InvalidResource } from '../fhir/errors';
import { importPlan, type ImportPlan } from '../fhir/import';
import type { RecordRepositories } from '../fhir/repository';
import { patientBirthDate, patientName, summarize } from '../fhir/summary';
import { runTransaction } from '../fhir/transaction';
import { RECORD_TYPES, countOf } from '../rules/catalogue';
import type { Rate } from '../security/limiters';
import { capitalize } from '../text';

type Json = Record<string, unknown>;

/** What an import would do, as a person reads it. */
export type ImportReview = {
  /** "Your personal details become: Alex Rowe, born 1990-04-01", when the file carries them. */
  personalDetails: string | undefined;
  groups: { heading: string; items: string[] }[];
  /** "2 resources of kinds a record does not keep (Practitioner, Organization) are left out." */
  leftOut: string | undefined;
  count: number;
};

/** Thrown inside the dry run's transaction to roll it back once every step went through. */
class DryRunDone extends Error {}

const PAGE = 1000;

export function createRecordTransfer(repositories: RecordRepositories, audit: AuditLog, fhirBase: string, imports: Rate) {
  const repositoryOf = (recordId: string, person: Person) => repositories.forRecord(recordId, personActor(person), { audited: false });

  /** Parses the file's text; a file that is not JSON is refused in words. */
  const parse = (text: string): unknown => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new InvalidResource('The file is not a FHIR Bundle in JSON: it could not be read as JSON.');
    }
  };

  const reviewOf = (plan: ImportPlan): ImportReview => {
    let personalDetails: string | undefined;
    const byType = new Map<string, string[]>();
    for (const step of plan.steps) {
      if (!('resource' in step)) continue;
      if (step.type === 'Patient') {
        const name = patientName(step.resource) ?? 'no name';
        const born = patientBirthDate(step.resource);
        personalDetails = `${name}${born ? `, born ${born}` : ''}`;
        continue;
      }
      byType.set(step.type, [...(byType.get(step.type) ?? []), summarize(step.resource)]);
    }
    const groups = RECORD_TYPES.filter((type) => byType.has(type)).map((type) => {
      const items = byType.get(type) ?? [];
      return { heading: `${capitalize(countOf(type, items.length))}`, items };
    });
    const skipped = [...plan.skipped].reduce((sum, [, count]) => sum + count, 0);
    const leftOut = skipped
      ? `${skipped} ${skipped === 1 ? 'item is' : 'items are'} of kinds a health record here does not keep (${[...plan.skipped.keys()].join(', ')}) and will be left out.`
      : undefined;
    return { personalDetails, groups, leftOut, count: plan.steps.length };
  };

  /** Every step of the plan, in one transaction; `after` runs in it (the audit, or the dry run's rollback). */
  const apply = (recordId: string, person: Person, plan: ImportPlan, after: (count: number) => Promise<void>) =>
    runTransaction(repositories.atomically, repositoryOf(recordId, person), plan.entries, plan.steps, {
      // The person reads their whole record (an import plans no searches, but the steps could hold one).
      search: { fhirBase, readable: () => true },
      targets: plan.targets,
      after: (outcomes) => after(outcomes.length),
    });

  /** Refusals as the person reads them: where in the file, and that nothing was written. */
  const explained = (error: unknown): unknown => {
    if (!(error instanceof DomainError)) return error;
    const where = /^Bundle\.entry\[(\d+)\]: /.exec(error.message);
    const message = where ? `Item ${Number(where[1]) + 1} of the file cannot go into a health record: ${error.message.slice(where[0].length)}` : error.message;
    return new InvalidResource(`Nothing was imported. ${message}`);
  };

  return {
    /** The whole record as a `collection` Bundle, and the event saying who took it. */
    async download(recordId: string, person: Person): Promise<Json> {
      const repository = repositoryOf(recordId, person);
      const entry: Json[] = [];
      let after: number | undefined;
      do {
        const page = await repository.everything(RECORD_TYPES, { count: PAGE, after });
        for (const resource of page.resources) {
          entry.push({ fullUrl: `${fhirBase}/${String(resource.content.resourceType)}/${String(resource.content.id)}`, resource: resource.content });
        }
        after = page.nextCursor;
      } while (after !== undefined);
      await audit.append({ recordId, kind: 'record.downloaded', personId: person.id, details: { person_name: person.name, count: entry.length } });
      return { resourceType: 'Bundle', type: 'collection', timestamp: new Date().toISOString(), entry };
    },

    /** What importing `text` would add, checked by running it and rolling it back. */
    async review(recordId: string, person: Person, text: string): Promise<ImportReview> {
      await imports.consume(person.id);
      try {
        const plan = importPlan(recordId, parse(text));
        await apply(recordId, person, plan, async () => {
          throw new DryRunDone();
        }).catch((error: unknown) => {
          if (!(error instanceof DryRunDone)) throw error;
        });
        return reviewOf(plan);
      } catch (error) {
        throw explained(error);
      }
    },

    /** Imports `text` (the file `filename`) into the record, all or nothing; returns how many resources were written. */
    async import(recordId: string, person: Person, text: string, filename: string): Promise<number> {
      await imports.consume(person.id);
      try {
        const plan = importPlan(recordId, parse(text));
        let written = 0;
        await apply(recordId, person, plan, async (count) => {
          written = count;
          await audit.append({ recordId, kind: 'record.imported', personId: person.id, details: { person_name: person.name, filename, count } });
        });
        return written;
      } catch (error) {
        throw explained(error);
      }
    },
  };
}

export type RecordTransfer = ReturnType<typeof createRecordTransfer>;

/** "Alex Rowe" → a file name for the download. */
export function downloadName(name: string, at: Date): string {
  const slug =
    name
      .normalize('NFKD')
      .replace(/[^A-Za-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .toLowerCase() || 'record';
  return `carevault-${slug}-${at.toISOString().slice(0, 10)}.json`;
}
