/**
 * Patient Connect (HealthVault's connect requests) on the OAuth device authorization grant
 * (RFC 8628): an app that met a person creates a request with a secret question; the person enters
 * the identity code, answers, chooses a record and approves the app's rules; the app then collects
 * offline tokens with its device code. This service keeps the requests: their answers (hashed),
 * the three-strikes lock, polling pace, the record they end up in, and the app's view of them.
 */
import { randomUUID } from 'node:crypto';
import type { Position } from '../api/paging';
import type { Person } from '../accounts/person';
import type { AuditLog } from '../audit/service';
import type { Database } from '../db';
import { isUniqueViolation } from '../db';
import { Conflict, NotFound } from '../errors';
import { isUuid } from '../ids';
import type { PollOutcome } from '../oidc/device-flow';
import { COLLECT_DAYS, UNUSED_DAYS, WRONG_ANSWERS_TO_LOCK, daysAfter } from '../rules/healthvault';
import { answerMatches } from '../security/answers';
import { createConnectStore, type ConnectRequestRow, type ConnectStatus, type StoredStatus } from './store';

/** A request as its app sees it (never the question's answer). */
export type ConnectRequestView = {
  id: string;
  external_id: string;
  status: ConnectStatus;
  patient?: string;
  created_at: string;
  expires_at: string;
  opened_at?: string;
  authorized_at?: string;
};

/** Where a request stands, for the person's pages: its status as the app sees it, and who answered. */
export type RequestStanding = {
  id: string;
  clientId: string;
  status: ConnectStatus;
  /** The person who answered the secret question rightly last (and, once authorized, who allowed). */
  answeredBy: string | null;
  recordId: string | null;
};

/** What the secret-question page shows. */
export type QuestionToAsk = { id: string; clientId: string; friendlyName: string; question: string; wrongAnswers: number };

/** Where the interaction stands on the secret question for the signed-in person. */
export type PromptState = { kind: 'answered' } | { kind: 'ask'; request: QuestionToAsk } | { kind: 'ended'; why: string } | { kind: 'not_connect' };

export type AnswerOutcome = 'right' | 'wrong' | 'locked';

/** The status the app sees: a pending request is `opened` once its code was entered, `expired` once its days are over. */
function statusOf(row: ConnectRequestRow): ConnectStatus {
  if (isExpired(row)) return 'expired';
  return row.status === 'pending' && row.opened_at ? 'opened' : row.status;
}

function standingOf(row: ConnectRequestRow): RequestStanding {
  return { id: row.id, clientId: row.client_id, status: statusOf(row), answeredBy: row.answered_by, recordId: row.record_id };
}

function viewOf(row: ConnectRequestRow): ConnectRequestView {
  return {
    id: row.id,
    external_id: row.external_id,
    status: statusOf(row),
    ...(row.record_id && row.status === 'authorized' ? { patient: row.record_id } : {}),
    created_at: row.created_at.toISOString(),
    expires_at: row.expires_at.toISOString(),
    ...(row.opened_at ? { opened_at: row.opened_at.toISOString() } : {}),
    ...(row.authorized_at ? { authorized_at: row.authorized_at.toISOString() } : {}),
  };
}

/** Past its days: swept already, or pending with its time run out (the sweep comes later). */
function isExpired(row: ConnectRequestRow): boolean {
  return row.status === 'expired' || (row.status === 'pending' && row.expires_at.getTime() <= Date.now());
}

const ENDED_WORDS: Readonly<Record<Exclude<StoredStatus, 'pending' | 'authorized'>, string>> = {
  denied: 'This connect request was declined.',
  locked: `This connect request is locked: its secret question was answered wrongly ${WRONG_ANSWERS_TO_LOCK} times. Ask the clinic for a new one.`,
  expired: 'This connect request has expired. Ask the clinic for a new one.',
  withdrawn: 'The clinic withdrew this connect request.',
};

export function createConnectService(deps: {
  db: Database;
  audit: AuditLog;
  /** The live authorization a grant carries (its record). */
  authorizationOfGrant(grantId: string): Promise<{ record_id: string } | undefined>;
  /** Ends the device code a withdrawn request rode on, by the key both tables keep for it. */
  endDeviceCode(deviceCodeKey: string): Promise<void>;
  /** Seconds between polls (RFC 8628 `interval`). */
  pollInterval: number;
}) {
  const { db, audit } = deps;
  const store = createConnectStore(db);
  const event = (
    row: Pick<ConnectRequestRow, 'id' | 'client_id'>,
    kind: string,
    extra: { recordId?: string; personId?: string; details?: Record<string, unknown> } = {},
  ) =>
    audit.append({
      subject: `connect:${row.id}`,
      kind,
      clientId: row.client_id,
      ...(extra.recordId ? { recordId: extra.recordId } : {}),
      ...(extra.personId ? { personId: extra.personId } : {}),
      details: extra.details ?? {},
    });

  return {
    /** The pending request of this app with this external id, if any. */
    async pendingFor(clientId: string, externalId: string): Promise<string | undefined> {
      return (await store.findPending(clientId, externalId))?.id;
    },

    /**
     * A device authorization request became a connect request.
     * @throws Conflict naming the pending request that has the same external id.
     */
    async requested(input: {
      deviceCode: string;
      clientId: string;
      externalId: string;
      friendlyName: string;
      question: string;
      answerHash: string;
    }): Promise<string> {
      const id = randomUUID();
      try {
        await db.transaction(async () => {
          await store.insert({
            id,
            client_id: input.clientId,
            external_id: input.externalId,
            friendly_name: input.friendlyName,
            question: input.question,
            answer_hash: input.answerHash,
            device_code: input.deviceCode,
            poll_interval: deps.pollInterval,
            expires_at: daysAfter(new Date(), UNUSED_DAYS),
          });
          await event({ id, client_id: input.clientId }, 'connect.requested', {
            details: { external_id: input.externalId, friendly_name: input.friendlyName },
          });
        });
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        const existing = await store.findPending(input.clientId, input.externalId);
        throw new Conflict(`A pending connect request for external_id ${input.externalId} exists already: ${existing?.id ?? 'unknown'}.`, 'request_exists');
      }
      return id;
    },

    /** Whether the signed-in person still has to answer the secret question of this device code's request. */
    async promptState(deviceCode: string, accountId: string | undefined): Promise<PromptState> {
      const row = await store.findByDeviceCode(deviceCode);
      if (!row) return { kind: 'not_connect' };
      if (isExpired(row)) return { kind: 'ended', why: ENDED_WORDS.expired };
      if (row.status !== 'pending' && row.status !== 'authorized') return { kind: 'ended', why: ENDED_WORDS[row.status] };
      if (accountId && row.answered_by === accountId) return { kind: 'answered' };
      return {
        kind: 'ask',
        request: { id: row.id, clientId: row.client_id, friendlyName: row.friendly_name, question: row.question, wrongAnswers: row.wrong_answers },
      };
    },

    /** The request a secret-question page asks about, and where it stands. */
    async questionOf(id: string): Promise<(QuestionToAsk & { status: ConnectStatus }) | undefined> {
      const row = isUuid(id) ? await store.find(id) : undefined;
      if (!row) return undefined;
      const { id: requestId, client_id: clientId, friendly_name: friendlyName, question, wrong_answers: wrongAnswers } = row;
      return { id: requestId, clientId, friendlyName, question, wrongAnswers, status: statusOf(row) };
    },

    /**
     * Someone entered the identity code, or carries on with it: a step of the authorization flow
     * (interaction `uid`) began for the request behind the device code. The step is remembered so
     * its page can say where the request stands once the step is over; the first one opens it.
     */
    async stepStarted(uid: string, deviceCode: string): Promise<void> {
      const row = await store.findByDeviceCode(deviceCode);
      if (!row) return;
      await db.transaction(async () => {
        if (await store.opened(row.id, uid)) await event(row, 'connect.opened');
      });
    },

    /** Where a request stands, by its id, its device code, or a step of the flow it went through. */
    async standing(id: string): Promise<RequestStanding | undefined> {
      const row = isUuid(id) ? await store.find(id) : undefined;
      return row && standingOf(row);
    },
    async standingOfCode(deviceCode: string): Promise<RequestStanding | undefined> {
      const row = await store.findByDeviceCode(deviceCode);
      return row && standingOf(row);
    },
    async standingOfStep(uid: string): Promise<RequestStanding | undefined> {
      const row = await store.findByStep(uid);
      return row && standingOf(row);
    },

    /**
     * The person answers the secret question. A right answer lets them go on to choose the record
     * and approve; the third wrong one locks the request for good.
     */
    async answer(id: string, person: Person, answer: string): Promise<AnswerOutcome> {
      const before = isUuid(id) ? await store.find(id) : undefined;
      if (!before) throw new NotFound('There is no such connect request.');
      // Argon2 runs before the transaction: nothing slow while the request is locked.
      const right = await answerMatches(before.answer_hash, answer);
      return db.transaction(async () => {
        await store.lock(id);
        const row = await store.find(id);
        if (!row || row.status !== 'pending') return 'locked';
        if (right) {
          await store.update(id, { answered_by: person.id });
          await event(row, 'connect.answered', { personId: person.id, details: { person_name: person.name } });
          return 'right';
        }
        const wrong = await store.countWrongAnswer(id);
        await event(row, 'connect.answer_wrong', { personId: person.id, details: { attempt: wrong } });
        if (wrong < WRONG_ANSWERS_TO_LOCK) return 'wrong';
        await store.update(id, { status: 'locked', ended_at: new Date() });
        await event(row, 'connect.locked');
        return 'locked';
      });
    },

    /**
     * The person approved: the device code now carries a grant. The request is authorized for the
     * record that grant's authorization reaches, and stays collectable for COLLECT_DAYS. Only a
     * pending request is authorized, under its lock: of approvals at the same moment (two tabs) the first counts.
     * @returns the record and the new collection deadline, or `undefined` for a device code that is no pending connect request.
     */
    async approved(deviceCode: string, grantId: string, person: Person): Promise<{ recordId: string; collectUntil: Date } | undefined> {
      const found = await store.findByDeviceCode(deviceCode);
      const authorization = await deps.authorizationOfGrant(grantId);
      if (!found || !authorization) return undefined;
      const collectUntil = daysAfter(new Date(), COLLECT_DAYS);
      return db.transaction(async () => {
        await store.lock(found.id);
        const row = await store.find(found.id);
        if (row?.status !== 'pending') return undefined;
        await store.update(row.id, {
          status: 'authorized',
          answered_by: person.id,
          record_id: authorization.record_id,
          authorized_at: new Date(),
          expires_at: collectUntil,
        });
        await event(row, 'connect.authorized', {
          recordId: authorization.record_id,
          personId: person.id,
          details: { person_name: person.name, external_id: row.external_id },
        });
        return { recordId: authorization.record_id, collectUntil };
      });
    },

    /** The person declined at the consent step (or the flow ended with an error); an expired request stays expired. */
    async declined(deviceCode: string): Promise<void> {
      const found = await store.findByDeviceCode(deviceCode);
      if (!found) return;
      // Under the request's lock: an approval in another tab at the same moment is not overwritten.
      await db.transaction(async () => {
        await store.lock(found.id);
        const row = await store.find(found.id);
        if (!row || row.status !== 'pending' || isExpired(row)) return;
        await store.update(row.id, { status: 'denied', ended_at: new Date() });
        await event(row, 'connect.denied');
      });
    },

    /**
     * The app polls the token endpoint with the device code; another app's poll is `unknown` and
     * changes nothing (not even the pace). `expired` once the request's days are
     * over (swept or not yet: the app gets expired_token, RFC 8628 §3.5); `ended` when it was
     * locked, declined or withdrawn (access_denied); `slow_down` when it polls sooner than its interval.
     */
    async poll(deviceCode: string, clientId: string): Promise<PollOutcome> {
      const polled = await store.poll(deviceCode, clientId);
      if (!polled) return 'unknown';
      if (isExpired(polled.row)) return 'expired';
      if (polled.row.status === 'locked' || polled.row.status === 'withdrawn' || polled.row.status === 'denied') return 'ended';
      // Only waiting is paced: once the person has answered, the app may collect at once.
      return polled.tooSoon && polled.row.status === 'pending' && !polled.row.answered_by ? 'slow_down' : 'ok';
    },

    /** The app's requests, oldest change first, `limit` at a time after `after`; `next` is where the page ended when more follow. */
    async list(clientId: string, filter: { status?: ConnectStatus | undefined; since?: Date | undefined; after?: Position | undefined; limit: number }) {
      const rows = await store.list(clientId, { status: filter.status, since: filter.since, after: filter.after, count: filter.limit + 1 });
      const page = rows.slice(0, filter.limit);
      const last = page.at(-1);
      const next: Position | undefined =
        rows.length > filter.limit && last ? { at: last.authorized_at ?? last.ended_at ?? last.opened_at ?? last.created_at, id: last.id } : undefined;
      return { requests: page.map(viewOf), next };
    },

    /** The app withdraws a pending request: its identity code stops working. */
    async withdraw(clientId: string, id: string): Promise<ConnectRequestView> {
      const row = isUuid(id) ? await store.find(id) : undefined;
      if (!row || row.client_id !== clientId) throw new NotFound('This app has no connect request with that id.');
      return db.transaction(async () => {
        await store.lock(id);
        const current = await store.find(id);
        if (!current || current.status !== 'pending') {
          throw new Conflict(`The connect request is ${current?.status ?? 'gone'}; only a pending one can be withdrawn.`, 'not_pending');
        }
        await store.update(id, { status: 'withdrawn', ended_at: new Date() });
        await deps.endDeviceCode(current.device_code_hash);
        await event(current, 'connect.withdrawn');
        return viewOf({ ...current, status: 'withdrawn' });
      });
    },

    /** Marks requests past their days (UNUSED_DAYS) as expired; returns how many. */
    async sweep(): Promise<number> {
      const expired = await store.expire();
      for (const row of expired) await event(row, 'connect.expired');
      return expired.length;
    },
  };
}

export type ConnectService = ReturnType<typeof createConnectService>;
