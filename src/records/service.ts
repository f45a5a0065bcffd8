/**
 * Records: a person's own and those of the people in their care. A record is one FHIR Patient and
 * everything about that person; it is opened here (its Patient written through the record
 * repository like any FHIR write) and only its custodians may act for it.
 */
import { randomUUID } from 'node:crypto';
import { personActor, type Person } from '../accounts/person';
import type { AuditLog } from '../audit/service';
import type { Database } from '../db';
import { NotFound } from '../errors';
import { isUuid } from '../ids';
import type { RecordRepositories } from '../fhir/repository';
import { patientBirthDate, patientName } from '../fhir/summary';
import { createRecordStore, type RecordRow } from './store';

export type Relationship = 'self' | 'child' | 'parent' | 'partner' | 'relative' | 'other';

/** A record as people see it: named by its Patient. */
export type RecordSummary = { id: string; name: string; birthDate: string | undefined; relationship: string };

function summaryOf(row: RecordRow): RecordSummary {
  const patient = row.patient ?? {};
  return { id: row.id, name: patientName(patient) ?? 'Unnamed', birthDate: patientBirthDate(patient), relationship: row.relationship };
}

export function createRecordService(db: Database, repositories: RecordRepositories, audit: AuditLog) {
  const store = createRecordStore(db);
  /** What others keep for every record, made in the transaction that opens it (feature hooks). */
  const openedHooks: Array<(record: { id: string; name: string }) => Promise<void>> = [];

  return {
    /** Adds a hook run inside the transaction of every record opened from now on. */
    whenOpened(hook: (record: { id: string; name: string }) => Promise<void>): void {
      openedHooks.push(hook);
    },

    /**
     * Opens a record — its Patient with `name` and `birthDate` — with `custodian` as its first
     * custodian, in one transaction (the caller's, when there is one).
     */
    async open(custodian: Person, record: { name: string; birthDate: string | undefined; relationship: Relationship }): Promise<string> {
      const recordId = randomUUID();
      await db.transaction(async () => {
        await store.insertRecord(recordId);
        await store.insertCustodianship({ person_id: custodian.id, record_id: recordId, relationship: record.relationship });
        const repository = repositories.forRecord(recordId, personActor(custodian), { audited: false });
        await repository.create('Patient', {
          resourceType: 'Patient',
          name: [{ text: record.name }],
          ...(record.birthDate ? { birthDate: record.birthDate } : {}),
        });
        for (const hook of openedHooks) await hook({ id: recordId, name: record.name });
        await audit.append({
          recordId,
          kind: 'record.opened',
          personId: custodian.id,
          details: { person_name: custodian.name, relationship: record.relationship },
        });
      });
      return recordId;
    },

    /** The records a person holds, their own first. */
    async recordsOf(personId: string): Promise<RecordSummary[]> {
      // Their own first, then by name.
      return (await store.recordsOf(personId))
        .map(summaryOf)
        .sort((a, b) => Number(b.relationship === 'self') - Number(a.relationship === 'self') || a.name.localeCompare(b.name));
    },

    ownRecordOf(personId: string): Promise<string | undefined> {
      return store.ownRecordOf(personId);
    },

    /** The ids of the records a person holds (no names: for checks, not pages). */
    recordIdsOf(personId: string): Promise<string[]> {
      return store.recordIdsOf(personId);
    },

    /**
     * The record, when `personId` is one of its custodians.
     * @throws NotFound otherwise: to anyone else a record does not exist.
     */
    async recordFor(personId: string, recordId: string): Promise<RecordSummary> {
      if (!isUuid(recordId)) throw new NotFound('There is no such record among yours.');
      const [row] = await store.recordsOf(personId, recordId);
      if (!row) throw new NotFound('There is no such record among yours.');
      return summaryOf(row);
    },

    async isCustodian(personId: string, recordId: string): Promise<boolean> {
      return isUuid(recordId) && (await store.isCustodian(personId, recordId));
    },
  };
}

export type RecordService = ReturnType<typeof createRecordService>;
