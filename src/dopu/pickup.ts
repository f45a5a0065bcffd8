/**
 * DOPU for the person: find a package by its code, answer its question,
 * review what is inside, and accept it into one of their records — or decline it. Between steps
 * nothing decrypted stays on the server: a correct answer yields a sealed ticket carrying the
 * package key (ticket.ts), and each step opens the contents again from the database.
 *
 * Limits: unknown codes count against the client address, wrong answers against the person's
 * account across packages (both never inside a transaction); a package locks for good at the third
 * wrong answer. Answers to one package are judged one at a time: under the package's lock an
 * answer takes an attempt (counted as wrong until it proves right) before its key is derived, so
 * however many guesses arrive at once, no more than three wrong ones are ever judged and none is
 * judged after the third. It is picked up once — the pickup takes the package's lock and checks it
 * is still pending inside the transaction that writes the record, so of concurrent pickups exactly
 * one writes.
 */
import { personActor, type Person } from '../accounts/person';
import type { AppNames } from '../apps/names';
import type { AuditLog } from '../audit/service';
import type { Database } from '../db';
import { Invalid, NotFound, TooManyAttempts } from '../errors';
import type { RecordRepositories } from '../fhir/repository';
import type { RecordService, RecordSummary } from '../records/service';
import { WRONG_ANSWERS_TO_LOCK } from '../rules/healthvault';
import type { Attempt, Limit } from '../security/limiters';
import { inlineClinicalDocument } from '../rules/clinical-document';
import { formatPickupCode, hashPickupCode, normalizePickupCode } from './codes';
import { intoRecord, type PackageResource } from './contents';
import { PackageEnded, WrongAnswer, endedError } from './errors';
import { reviewOf, type ReviewGroup } from './review';
import type { PackageStatus } from './schemas';
import { open, type PackageKeys } from './sealing';
import type { DopuService } from './service';
import { createPackageStore, type PackageRow } from './store';
import type { TicketSealer } from './ticket';

/**
 * How long an answer may hold its package for judging: far beyond one key derivation, so it only
 * ends a judging whose process died (that attempt stays counted as wrong).
 */
const JUDGING_SECONDS = 30;

/** How long an answer waits for the one being judged before the person is asked to try again. */
const TURN_WAIT_MS = 5000;
const TURN_POLL_MS = 100;

export type PickupDeps = {
  db: Database;
  audit: AuditLog;
  repositories: RecordRepositories;
  records: RecordService;
  packages: DopuService;
  tickets: TicketSealer;
  keys: PackageKeys;
  appNames: AppNames;
  clock(): Date;
  /** Unknown codes per address, and wrong answers per account across packages. */
  codeGuesses: Limit;
  wrongAnswers: Limit;
};

/** What whoever holds the code may see before answering. */
export type Offer = { id: string; code: string; sender: string; friendlyName: string; question: string; expiresAt: Date; count: number; triesLeft: number };

/** What a correct answer opens: the offer, its contents in words, and the ticket for the next steps. */
export type Opened = { offer: Offer; review: ReviewGroup[]; ticket: string };

type Found = Omit<PackageRow, 'sealed'>;

/** The next attempt at a package's answer: taken until a time, refused with the package's end, or wait. */
type Turn = { until: Date } | { ended: Exclude<PackageStatus, 'pending'> } | 'busy';

const EXPIRED_TICKET = 'This pickup took too long or its form was changed. Enter the pickup code and the answer again.';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createPickupService({
  db,
  audit,
  repositories,
  records,
  packages,
  tickets,
  keys,
  appNames,
  clock,
  codeGuesses: codeLimit,
  wrongAnswers: answerLimit,
}: PickupDeps) {
  const store = createPackageStore(db);
  const nameOf = (clientId: string) => appNames.name(clientId);
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
    const attempt = await codeLimit.take(address);
    const code = normalizePickupCode(typed);
    const row = code ? await store.findByCode(hashPickupCode(code)) : undefined;
    if (!row) {
      await attempt.failed();
      throw code
        ? new NotFound('No package has this pickup code. Check the code and try again.')
        : new Invalid('A pickup code is 20 letters in 5 groups of 4, like JKWZ-QNMN-VHRX-ZGNR-GZNH.', 'invalid_code');
    }
    await attempt.giveBack();
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
    triesLeft: WRONG_ANSWERS_TO_LOCK - row.wrong_answers,
  });

  /** Locks the package for good (contents deleted), inside the caller's transaction; `person` gave the last wrong answer. */
  const lockPackage = async (row: Found, person: Person | undefined, wrongAnswers: number) => {
    await store.end(row.id, 'locked', clock());
    await audit.append({
      subject: `package:${row.id}`,
      kind: 'dopu.locked',
      clientId: row.client_id,
      personId: person?.id,
      details: { wrong_answers: wrongAnswers },
    });
  };

  const lockedNow = (sender: string) =>
    new PackageEnded(
      'locked',
      `That answer is not right either. The package is now locked because the answer was wrong ${WRONG_ANSWERS_TO_LOCK} times, and its contents were deleted. Ask ${sender} to send it again if you still need it.`,
    );

  /** Why the package cannot be answered any more, in the words of its status now. */
  const endedNow = async (row: Found, sender: string): Promise<PackageEnded> => {
    const now = await store.answerState(row.id);
    return endedError(now && now.status !== 'pending' ? now.status : 'picked_up', sender, row.expires_at);
  };

  /**
   * Takes the package's next attempt, waiting while another answer is judged: under the package's
   * lock, the attempt is counted and the package held for judging until the returned time.
   * @throws PackageEnded when it can no longer be answered, TooManyAttempts when the wait is too long.
   */
  const takeTurn = async (row: Found, sender: string): Promise<Date> => {
    const deadline = Date.now() + TURN_WAIT_MS;
    for (;;) {
      const turn = await db.transaction(async (): Promise<Turn> => {
        await db.lock(`package:${row.id}`);
        const state = await store.answerState(row.id);
        const now = clock();
        if (!state) return { ended: 'picked_up' };
        if (state.status !== 'pending') return { ended: state.status };
        if (isDue({ status: state.status, expires_at: state.expires_at })) {
          await packages.expireDue({ id: row.id });
          return { ended: 'expired' };
        }
        if (state.judging_until && state.judging_until.getTime() > now.getTime()) return 'busy';
        if (state.wrong_answers >= WRONG_ANSWERS_TO_LOCK) {
          // The last attempt was taken and never judged (its process ended): it counts as wrong.
          await lockPackage(row, undefined, state.wrong_answers);
          return { ended: 'locked' };
        }
        const until = new Date(now.getTime() + JUDGING_SECONDS * 1000);
        return (await store.takeAttempt(row.id, until)) ? { until } : { ended: 'picked_up' };
      });
      if (turn !== 'busy') {
        if ('ended' in turn) throw endedError(turn.ended, sender, row.expires_at);
        return turn.until;
      }
      if (Date.now() + TURN_POLL_MS > deadline) {
        throw new TooManyAttempts('Another answer to this package is being checked. Try again in a few seconds.', 2);
      }
      await sleep(TURN_POLL_MS / 2 + Math.random() * TURN_POLL_MS);
    }
  };

  /** A right answer: its attempt given back, the opening audited. @throws PackageEnded when it ended meanwhile. */
  const rightAnswer = async (row: Found, person: Person, sender: string, until: Date): Promise<void> => {
    const ended = await db.transaction(async () => {
      await db.lock(`package:${row.id}`);
      const given = await store.endJudging(row.id, until, 'right', clock());
      // Undefined: ended meanwhile (withdrawn, say), or this judging outlived its time — then the
      // attempt it took stays counted, and a package still pending still opens to its answer.
      if (given === undefined && (await store.answerState(row.id))?.status !== 'pending') return true;
      await audit.append({ subject: `package:${row.id}`, kind: 'dopu.answered', clientId: row.client_id, personId: person.id, details: {} });
      return false;
    });
    if (ended) throw await endedNow(row, sender);
  };

  /** A wrong answer: its attempt stays counted, the third locks the package. Throws what the person is told. */
  const wrongAnswer = async (row: Found, person: Person, sender: string, until: Date, attempt: Attempt): Promise<never> => {
    const outcome = await db.transaction(async () => {
      await db.lock(`package:${row.id}`);
      let count = await store.endJudging(row.id, until, 'wrong', clock());
      if (count === undefined) {
        // No longer pending (someone else finished it), or this judging outlived its time: its
        // attempt was counted when it was taken either way.
        const state = await store.answerState(row.id);
        if (state?.status !== 'pending') return 'ended' as const;
        count = state.wrong_answers;
      }
      await audit.append({
        subject: `package:${row.id}`,
        kind: 'dopu.wrong_answer',
        clientId: row.client_id,
        personId: person.id,
        details: { wrong_answers: count },
      });
      if (count < WRONG_ANSWERS_TO_LOCK) return WRONG_ANSWERS_TO_LOCK - count;
      await lockPackage(row, person, count);
      return 'locked' as const;
    });
    // Outside the transaction: the limit has its own connection. A failure reaching the limit
    // locks the person's next answers; this one is told what it was.
    await attempt.failed();
    if (outcome === 'locked') throw lockedNow(sender);
    if (outcome === 'ended') throw await endedNow(row, sender);
    throw new WrongAnswer(outcome);
  };

  /** Gives back an attempt that was never judged (a failure while deriving or reading), as far as the database lets. */
  const unjudged = async (row: Found, until: Date) => {
    await db
      .transaction(async () => {
        await db.lock(`package:${row.id}`);
        await store.endJudging(row.id, until, 'unjudged', clock());
      })
      .catch(() => undefined); // the attempt then stays counted until the judging's time runs out
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
    /**
     * The id of the package a code names, whatever its status, or `undefined`; only to tell whether a
     * refused code is the one this browser's own pickup ended (the refusal was counted already).
     */
    async packageIdOf(typed: string): Promise<string | undefined> {
      const code = normalizePickupCode(typed);
      return code ? (await store.findByCode(hashPickupCode(code)))?.id : undefined;
    },

    /** What the code opens, before the answer. @throws Invalid/NotFound for a bad code, PackageEnded, TooManyAttempts. */
    async offer(typed: string, address: string): Promise<Offer> {
      const { row, sender } = await byCode(typed, address);
      return offerOf(row, normalizePickupCode(typed) as string, sender);
    },

    /**
     * Checks the answer by opening the contents with the key it derives — one answer at a time per
     * package, each counted before it is judged.
     * @throws WrongAnswer (tries left), PackageEnded when this was the third wrong answer,
     * TooManyAttempts (the account's wrong answers, or another answer being judged too long).
     */
    async answer(typed: string, answer: string, person: Person, address: string): Promise<Opened> {
      const { row, sender } = await byCode(typed, address);
      const attempt = await answerLimit.take(person.id);
      let until: Date;
      try {
        until = await takeTurn(row, sender);
      } catch (error) {
        await attempt.giveBack();
        throw error;
      }
      let resources: PackageResource[] | undefined;
      let key: Buffer;
      try {
        const full = await store.withContents(row.id);
        if (!full || full.status !== 'pending' || !full.sealed)
          throw endedError(full && full.status !== 'pending' ? full.status : 'picked_up', sender, row.expires_at);
        key = await keys.derive(answer, full.salt, full.key_version);
        resources = contentsOf(full, key);
      } catch (error) {
        await unjudged(row, until);
        await attempt.giveBack();
        throw error;
      }
      if (!resources) return wrongAnswer(row, person, sender, until, attempt);
      await attempt.giveBack();
      await rightAnswer(row, person, sender, until);
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
     * @throws PackageEnded ("already picked up" for all but one of concurrent pickups), NotFound for a record not theirs, NotAllowed for one they may only view.
     */
    async accept(
      ticketValue: string,
      person: Person,
      recordId: string,
    ): Promise<{ record: RecordSummary; count: number; sender: string; clinicalDocuments: string[] }> {
      const { ticket, sender } = await ticketed(ticketValue, person);
      const record = await records.recordFor(person.id, recordId, 'change');
      const clinicalDocuments: string[] = [];
      const count = await db.transaction(async () => {
        await db.lock(`package:${ticket.packageId}`);
        const row = await store.withContents(ticket.packageId);
        if (!row) throw new NotFound('This package no longer exists.');
        if (row.status !== 'pending') throw endedError(row.status, sender, row.expires_at);
        if (isDue(row)) throw endedError('expired', sender, row.expires_at);
        const resources = contentsOf(row, ticket.key);
        if (!resources) throw new Invalid(EXPIRED_TICKET, 'ticket_expired');
        const repository = repositories.forRecord(record.id, personActor(person), { audited: false });
        for (const resource of intoRecord(resources, record.id)) {
          await repository.create(resource.type, resource.body, { id: resource.id });
          if (inlineClinicalDocument(resource.body) !== undefined) clinicalDocuments.push(resource.id);
        }
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
      return { record, count, sender, clinicalDocuments };
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
        await audit.append({
          subject: `package:${ticket.packageId}`,
          kind: 'dopu.declined',
          clientId: ended.client_id,
          personId: person.id,
          details: { count: ended.resource_count },
        });
      });
      return { sender };
    },
  };
}

export type PickupService = ReturnType<typeof createPickupService>;
