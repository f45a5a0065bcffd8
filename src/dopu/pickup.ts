/**
 * DOPU for the person (issue 10, "Pickup pages"): find a package by its code, answer its question,
 * review what is inside, and accept it into one of their records — or decline it. Between steps
 * nothing decrypted stays on the server: a correct answer yields a sealed ticket carrying the
 * package key (ticket.ts), and each step opens the contents again from the database.
 *
 * Limits: unknown codes count against the client address (never inside a transaction); a package
 * locks for good at the third wrong answer; it is picked up once — the pickup takes the package's
 * lock and checks it is still pending inside the transaction that writes the record, so of
 * concurrent pickups exactly one writes.
 */
import type { Person } from '../accounts/service';
import type { AuditLog } from '../audit/service';
import type { Database } from '../db';
import { Invalid, NotFound } from '../errors';
import type { RecordRepositories } from '../fhir/repository';
import type { RecordService, RecordSummary } from '../records/service';
import { createLimit } from '../security/rate-limits';
import { formatPickupCode, hashPickupCode, normalizePickupCode } from './codes';
import { intoRecord, type PackageResource } from './contents';
import { PackageEnded, WrongAnswer, endedError } from './errors';
import { reviewOf, type ReviewGroup } from './review';
import { deriveKey, open } from './sealing';
import type { DopuService } from './service';
import { createPackageStore, type PackageRow } from './store';
import type { TicketSealer } from './ticket';

/** DESIGN.md: a package is locked after 3 wrong answers. */
export const MAX_WRONG_ANSWERS = 3;

export type PickupDeps = {
  db: Database;
  audit: AuditLog;
  repositories: RecordRepositories;
  records: RecordService;
  packages: DopuService;
  tickets: TicketSealer;
  appNames(clientIds: readonly string[]): Promise<ReadonlyMap<string, string>>;
  clock(): Date;
  codeFailuresPerAddress: number;
};

/** What whoever holds the code may see before answering. */
export type Offer = { id: string; code: string; sender: string; friendlyName: string; question: string; expiresAt: Date; count: number; triesLeft: number };

/** What a correct answer opens: the offer, its contents in words, and the ticket for the next steps. */
export type Opened = { offer: Offer; review: ReviewGroup[]; ticket: string };

type Found = Omit<PackageRow, 'sealed'>;

const EXPIRED_TICKET = 'This pickup took too long or its form was changed. Enter the pickup code and the answer again.';

export function createPickupService({ db, audit, repositories, records, packages, tickets, appNames, clock, codeFailuresPerAddress }: PickupDeps) {
  const store = createPackageStore(db);
  const codeLimit = createLimit(db, {
    prefix: 'pickup-code-address',
    points: codeFailuresPerAddress,
    duration: 3600,
    lockDuration: 3600,
    message: 'Too many wrong pickup codes were tried from your network.',
  });
  const nameOf = async (clientId: string) => (await appNames([clientId])).get(clientId) ?? 'The sender';
  const isDue = (row: Pick<Found, 'status' | 'expires_at'>) => row.status === 'pending' && row.expires_at.getTime() <= clock().getTime();

  /** Throws why the package cannot be picked up (marking it expired first when it just did). */
  const ensurePending = async (row: Found): Promise<string> => {
    const sender = await nameOf(row.client_id);
    if (isDue(row)) {
      await packages.expireDue({ id: row.id });
      throw endedError('expired', sender, row.expires_at);
    }
    if (row.status !== 'pending') throw endedError(row.status, sender, row.expires_at);
    return sender;
  };

  /** The package a typed code opens, counting unknown codes against the address. */
  const byCode = async (typed: string, address: string): Promise<{ row: Found; sender: string }> => {
    await codeLimit.assertOpen(address);
    const code = normalizePickupCode(typed);
    const row = code ? await store.findByCode(hashPickupCode(code)) : undefined;
    if (!row) {
      await codeLimit.recordFailure(address);
      throw code
        ? new NotFound('No package has this pickup code. Check the code and try again.')
        : new Invalid('A pickup code is 20 letters in 5 groups of 4, like JKWZ-QNMN-VHRX-ZGNR-GZNH.', 'invalid_code');
    }
    return { row, sender: await ensurePending(row) };
  };

  const offerOf = (row: Found, code: string, sender: string): Offer => ({
    id: row.id,
    code: formatPickupCode(code),
    sender,
    friendlyName: row.friendly_name,
    question: row.question,
    expiresAt: row.expires_at,
    count: row.resource_count,
    triesLeft: MAX_WRONG_ANSWERS - row.wrong_answers,
  });

  /** Counts a wrong answer (locking at the third) and throws what the person is told. */
  const wrongAnswer = async (row: Found, person: Person, sender: string): Promise<never> => {
    const outcome = await db.transaction(async () => {
      await db.lock(`package:${row.id}`);
      const count = await store.countWrongAnswer(row.id, clock());
      if (count === 0) return 'ended' as const; // no longer pending: someone else finished it
      await audit.append({ subject: `package:${row.id}`, kind: 'dopu.wrong_answer', clientId: row.client_id, personId: person.id, details: { wrong_answers: count } });
      if (count < MAX_WRONG_ANSWERS) return MAX_WRONG_ANSWERS - count;
      await store.end(row.id, 'locked', clock());
      await audit.append({ subject: `package:${row.id}`, kind: 'dopu.locked', clientId: row.client_id, personId: person.id, details: { wrong_answers: count } });
      return 'locked' as const;
    });
    if (outcome === 'locked') throw new PackageEnded('locked', `That answer is not right either. The package is now locked because the answer was wrong ${MAX_WRONG_ANSWERS} times, and its contents were deleted. Ask ${sender} to send it again if you still need it.`);
    if (outcome === 'ended') {
      const now = await store.findByCode(row.code_hash);
      throw endedError(now && now.status !== 'pending' ? now.status : 'picked_up', sender, row.expires_at);
    }
    throw new WrongAnswer(outcome);
  };

  /** The contents of a pending package under `key`, or `undefined` when the key does not open them. */
  const contentsOf = (row: PackageRow, key: Buffer): PackageResource[] | undefined => {
    const plaintext = row.sealed ? open(row.sealed, key, row.id) : undefined;
    return plaintext ? (JSON.parse(plaintext.toString('utf8')) as PackageResource[]) : undefined;
  };

  /** The package of a ticket, still pending, and its contents. */
  const ticketed = async (value: string, person: Person) => {
    const ticket = await tickets.open(value, person.id);
    if (!ticket) throw new Invalid(EXPIRED_TICKET, 'ticket_expired');
    const row = await store.withContents(ticket.packageId);
    if (!row) throw new NotFound('This package no longer exists.');
    const sender = await ensurePending(row);
    const resources = contentsOf(row, ticket.key);
    if (!resources) throw new Invalid(EXPIRED_TICKET, 'ticket_expired');
    return { ticket, row, sender, resources };
  };

  return {
    /** What the code opens, before the answer. @throws Invalid/NotFound for a bad code, PackageEnded, TooManyAttempts. */
    async offer(typed: string, address: string): Promise<Offer> {
      const { row, sender } = await byCode(typed, address);
      return offerOf(row, normalizePickupCode(typed) as string, sender);
    },

    /**
     * Checks the answer by opening the contents with the key it derives.
     * @throws WrongAnswer (tries left), PackageEnded when this was the third wrong answer.
     */
    async answer(typed: string, answer: string, person: Person, address: string): Promise<Opened> {
      const { row, sender } = await byCode(typed, address);
      const key = await deriveKey(answer, row.salt);
      const full = await store.withContents(row.id);
      const resources = full ? contentsOf(full, key) : undefined;
      if (!full || full.status !== 'pending') throw endedError(full && full.status !== 'pending' ? full.status : 'picked_up', sender, row.expires_at);
      if (!resources) return wrongAnswer(row, person, sender);
      const ticket = await tickets.seal({ packageId: row.id, personId: person.id, key });
      return { offer: offerOf(row, normalizePickupCode(typed) as string, sender), review: reviewOf(resources), ticket };
    },

    /** The contents again, for the review page. */
    async review(ticketValue: string, person: Person): Promise<{ sender: string; friendlyName: string; review: ReviewGroup[] }> {
      const { row, sender, resources } = await ticketed(ticketValue, person);
      return { sender, friendlyName: row.friendly_name, review: reviewOf(resources) };
    },

    /**
     * Writes every resource into the record, in one transaction, and ends the package.
     * @throws PackageEnded ("already picked up" for all but one of concurrent pickups), NotFound for a record not theirs.
     */
    async accept(ticketValue: string, person: Person, recordId: string): Promise<{ record: RecordSummary; count: number; sender: string }> {
      const { ticket, sender } = await ticketed(ticketValue, person);
      const record = await records.recordFor(person.id, recordId);
      const count = await db.transaction(async () => {
        await db.lock(`package:${ticket.packageId}`);
        const row = await store.withContents(ticket.packageId);
        if (!row) throw new NotFound('This package no longer exists.');
        if (row.status !== 'pending') throw endedError(row.status, sender, row.expires_at);
        if (isDue(row)) throw endedError('expired', sender, row.expires_at);
        const resources = contentsOf(row, ticket.key);
        if (!resources) throw new Invalid(EXPIRED_TICKET, 'ticket_expired');
        const repository = repositories.forRecord(record.id, { kind: 'person', personId: person.id, name: person.name }, { audited: false });
        for (const resource of intoRecord(resources, record.id)) await repository.create(resource.type, resource.body, { id: resource.id });
        if (!(await store.end(row.id, 'picked_up', clock()))) throw endedError('picked_up', sender, row.expires_at);
        await audit.append({
          recordId: record.id,
          subject: `package:${row.id}`,
          kind: 'dopu.picked_up',
          clientId: row.client_id,
          personId: person.id,
          details: { count: resources.length, person_name: person.name },
        });
        return resources.length;
      });
      return { record, count, sender };
    },

    /** Discards the package: its contents are deleted and the app's status shows `declined`. */
    async decline(ticketValue: string, person: Person): Promise<{ sender: string }> {
      const { ticket, sender } = await ticketed(ticketValue, person);
      await db.transaction(async () => {
        await db.lock(`package:${ticket.packageId}`);
        const ended = await store.end(ticket.packageId, 'declined', clock());
        if (!ended) {
          const row = await store.withContents(ticket.packageId);
          throw endedError(row && row.status !== 'pending' ? row.status : 'picked_up', sender, row?.expires_at ?? clock());
        }
        await audit.append({ subject: `package:${ticket.packageId}`, kind: 'dopu.declined', clientId: ended.client_id, personId: person.id, details: { count: ended.resource_count } });
      });
      return { sender };
    },
  };
}

export type PickupService = ReturnType<typeof createPickupService>;
