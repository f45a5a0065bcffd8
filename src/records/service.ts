/**
 * Records: a person's own, those of the people in their care, and those shared with them. A record
 * is one FHIR Patient and everything about that person; it is opened here (its Patient written
 * through the record repository like any FHIR write). Whether a person may reach a record, and
 * what they may do there, is answered in one place: {@link accessOf} (the level, honouring expiry
 * in the query) and `recordFor` with the action a page is about to take (access.ts).
 */
import { randomUUID } from 'node:crypto';
import { personActor, type Person } from '../accounts/person';
import type { AuditLog } from '../audit/service';
import type { Database } from '../db';
import { NotAllowed, NotFound } from '../errors';
import { isUuid } from '../ids';
import type { RecordRepositories } from '../fhir/repository';
import { patientBirthDate, patientName } from '../fhir/summary';
import { allows, REFUSED_WORDS, type AccessLevel, type RecordAction } from './access';
import { createRecordStore, type RecordRow } from './store';

export type Relationship = 'self' | 'child' | 'parent' | 'partner' | 'relative' | 'other';

/** A record as people see it: named by its Patient, with the level the person holds on it. */
export type RecordSummary = { id: string; name: string; birthDate: string | undefined; relationship: string; access: AccessLevel };

function summaryOf(row: RecordRow): RecordSummary {
  const patient = row.patient ?? {};
  return {
    id: row.id,
    name: patientName(patient) ?? 'Unnamed',
    birthDate: patientBirthDate(patient),
    relationship: row.relationship,
    access: row.access,
  };
}

export function createRecordService(db: Database, repositories: RecordRepositories, audit: AuditLog) {
  const store = createRecordStore(db);
  /** What others keep for every record, made in the transaction that opens it (feature hooks). */
  const openedHooks: Array<(record: { id: string; name: string }) => Promise<void>> = [];
  /** What others keep for a record, erased in the transaction that erases it (feature hooks). */
  const erasedHooks: Array<(recordId: string) => Promise<void>> = [];

  return {
    /** Adds a hook run inside the transaction of every record opened from now on. */
    whenOpened(hook: (record: { id: string; name: string }) => Promise<void>): void {
      openedHooks.push(hook);
    },

    /** Adds a hook run inside the transaction of every record erased from now on. */
    whenErased(hook: (recordId: string) => Promise<void>): void {
      erasedHooks.push(hook);
    },

    /**
     * A person stops holding every record they hold (their account closes), in one transaction
     * (the caller's): a record someone else also looks after stays with them, and one shared with
     * the person below Full stays with its owner, the person only removed; every other record is erased — what features keep for it
     * (their hooks), its resources with every version, its audit events, the record itself.
     * Returns how many records were erased and how many kept.
     */
    async leaveAll(personId: string): Promise<{ erased: number; kept: string[] }> {
      return db.transaction(async () => {
        const kept: string[] = [];
        let erased = 0;
        // In one order, so two people leaving records they share lock them without a deadlock.
        for (const recordId of (await store.recordIdsOf(personId)).sort()) {
          await db.lock(`record:${recordId}`);
          // A record shared with them below Full, or one someone else also looks after (a custodian,
          // or someone with Full access, who counts as one), stays.
          if (!allows(await store.accessOf(personId, recordId), 'share') || (await store.otherCustodians(recordId, personId)) > 0) {
            await store.removeCustodian(personId, recordId);
            kept.push(recordId);
            continue;
          }
          for (const hook of erasedHooks) await hook(recordId);
          await repositories.erase(recordId);
          await audit.eraseRecord(recordId);
          await store.deleteRecord(recordId);
          erased += 1;
        }
        return { erased, kept };
      });
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

    /** The records a person holds at any level, their own first. */
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
     * The record, when `personId` holds it at a level that allows `action` (reading, unless said).
     * @throws NotFound when they do not hold it at all: to anyone else a record does not exist.
     * @throws NotAllowed when their level does not allow the action, saying why in words.
     */
    async recordFor(personId: string, recordId: string, action: RecordAction = 'read'): Promise<RecordSummary> {
      if (!isUuid(recordId)) throw new NotFound('There is no such record among yours.');
      const [row] = await store.recordsOf(personId, recordId);
      if (!row) throw new NotFound('There is no such record among yours.');
      if (action !== 'read' && !allows(row.access, action)) throw new NotAllowed(REFUSED_WORDS[action]);
      return summaryOf(row);
    },

    /**
     * The level `personId` holds on the record now, or `undefined` when they hold none (never
     * held, ended, or expired: the expiry is checked in the query itself). Every check of
     * "may this person reach this record" goes through here or `recordFor`.
     */
    async accessOf(personId: string, recordId: string): Promise<AccessLevel | undefined> {
      return isUuid(recordId) ? store.accessOf(personId, recordId) : undefined;
    },

    /** Of the records a person holds, the ids of those someone else also looks after. */
    sharedOf(personId: string): Promise<string[]> {
      return store.sharedOf(personId);
    },
  };
}

export type RecordService = ReturnType<typeof createRecordService>;
