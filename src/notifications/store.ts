/**
 * SQL for change notifications (migrations/20261207_060_subscriptions.ts): the apps' Subscriptions,
 * their outbox of notifications (written by the trigger on `resource_versions`), and what the
 * delivery jobs (queue.ts) read and write. A subscription is marked `queued_at` in the same
 * transaction that sends its delivery job, so it has one job at a time across every instance: its
 * notifications go out one after the other, in the order the changes were written. The mark is
 * cleared when its job finds nothing more to do.
 */
import type { Database } from '../db';
import { SUBSCRIPTION_SCOPE } from '../rules/scopes';
import type { PayloadContent, SubscriptionStatus } from './resource';

export type SubscriptionRow = {
  id: string;
  record_id: string;
  client_id: string;
  authorization_id: string;
  status: SubscriptionStatus;
  reason: string;
  endpoint: string;
  headers: string;
  content: PayloadContent;
  filter_type: string | null;
  heartbeat_seconds: number | null;
  version_id: number;
  events_since_start: string | number;
  attempts: number;
  error: string | null;
  queued_at: Date | null;
  last_sent_at: Date | null;
  created_at: Date;
  updated_at: Date;
};

export type NotificationRow = { id: string; subscription_id: string; type: string; resource_id: string; version_id: number; kind: string; occurred_at: Date };

/** What the app may change of its Subscription (a change restarts it: handshake again). */
export type SubscriptionFields = Pick<SubscriptionRow, 'reason' | 'endpoint' | 'headers' | 'content' | 'filter_type' | 'heartbeat_seconds'>;

/** Where a subscription goes after one delivery. */
export type DeliveryOutcome = Partial<Pick<SubscriptionRow, 'status' | 'attempts' | 'error' | 'last_sent_at'>> & {
  /** The job ends with this delivery: the subscription's queue mark is cleared. */
  finished?: boolean;
  /** The notification now sent or passed over, counted among the events since the start when sent. */
  done?: { notificationId: string; counted: boolean };
  /** What the delivery adds to the totals every instance shares (sent, retried, failed). */
  total?: 'sent' | 'retried' | 'failed';
  /** From the change to its notification answered, in seconds (a sent notification's). */
  lagSeconds?: number;
};

/** A subscription with its oldest unsent notification, if it has one. */
export type DueSubscription = SubscriptionRow & { next: NotificationRow | undefined };

/** What a delivery job names: the subscription, as it was when the job was sent. */
export type QueuedSubscription = Pick<SubscriptionRow, 'id' | 'version_id'>;

/**
 * The subscription names a live authorization that still holds the Subscription rule and offline
 * access (a read of the core's `authorizations`, so the ending of an authorization by any path —
 * Remove access, a trimmed rule, a closed account, an ended share — is seen without the core naming
 * this feature).
 */
const AUTHORIZATION_LIVE = `exists (
  select 1 from authorizations a
   where a.id = s.authorization_id and a.revoked_at is null and a.access = 'offline'
     and (' ' || a.scope || ' ') like ?)`;

/**
 * A subscription `s` with work due and no job: a handshake, an unsent notification, a heartbeat;
 * a queue mark older than the bound seconds (its job lost past every retry) counts as none.
 */
const WAITING_FOR_A_JOB = `(s.queued_at is null or s.queued_at < now() - make_interval(secs => ?))
  and (s.status = 'requested'
       or (s.status = 'active'
           and (exists (select 1 from subscription_notifications n where n.subscription_id = s.id and n.done_at is null)
                or (s.heartbeat_seconds is not null
                    and coalesce(s.last_sent_at, s.created_at) < now() - make_interval(secs => s.heartbeat_seconds)))))`;

export function createSubscriptionStore(db: Database) {
  const subscriptions = () => db.table('subscriptions');

  return {
    /** Stores a new subscription, marked queued: send its delivery job (the handshake) in the same transaction. */
    async insert(row: Pick<SubscriptionRow, 'id' | 'record_id' | 'client_id' | 'authorization_id' | 'status'> & SubscriptionFields): Promise<SubscriptionRow> {
      const [inserted] = (await subscriptions()
        .insert({ ...row, queued_at: db.now() })
        .returning('*')) as SubscriptionRow[];
      if (!inserted) throw new Error('subscription insert returned nothing');
      return inserted;
    },

    /** The app's own subscription in the record, if any. */
    async findOwn(id: string, clientId: string, recordId: string): Promise<SubscriptionRow | undefined> {
      return subscriptions().where({ id, client_id: clientId, record_id: recordId }).first();
    },

    async listOwn(clientId: string, recordId: string): Promise<SubscriptionRow[]> {
      return subscriptions().where({ client_id: clientId, record_id: recordId }).orderBy('created_at');
    },

    /**
     * Rewrites the app's subscription and starts it again (requested: a new handshake), marked
     * queued: send its delivery job in the same transaction. Its unsent notifications stay.
     */
    async rewrite(id: string, fields: SubscriptionFields): Promise<SubscriptionRow | undefined> {
      const [row] = (await subscriptions()
        .where({ id })
        .whereNot({ status: 'off' })
        .update({
          ...fields,
          status: 'requested',
          attempts: 0,
          error: null,
          queued_at: db.now(),
          // A job sent for the old endpoint no longer counts: it names the old version, and its outcome is not written.
          version_id: db.raw('version_id + 1'),
          updated_at: db.now(),
        })
        .returning('*')) as SubscriptionRow[];
      return row;
    },

    async remove(id: string): Promise<void> {
      await subscriptions().where({ id }).delete();
    },

    /**
     * The subscription a delivery job names, with its oldest unsent notification, while that job
     * still speaks for it (the version it was sent for, not since rewritten or deleted).
     */
    async due(job: QueuedSubscription): Promise<DueSubscription | undefined> {
      const { rows } = (await db.raw(
        `select s.*,
            (select json_build_object('id', n.id::text, 'subscription_id', n.subscription_id, 'type', n.type, 'resource_id', n.resource_id,
                                      'version_id', n.version_id, 'kind', n.kind, 'occurred_at', n.occurred_at)
               from subscription_notifications n
              where n.subscription_id = s.id and n.done_at is null
              order by n.id limit 1) as next
           from subscriptions s where s.id = ? and s.version_id = ?`,
        [job.id, job.version_id],
      )) as { rows: (SubscriptionRow & { next: (Omit<NotificationRow, 'occurred_at'> & { occurred_at: string }) | null })[] };
      const [row] = rows;
      if (!row) return undefined;
      const { next, ...subscription } = row;
      return { ...subscription, next: next ? { ...next, occurred_at: new Date(next.occurred_at) } : undefined };
    },

    /** Whether any subscription waits for a job (one read, so a relay with nothing to do opens no transaction). */
    async anyWaiting(staleSeconds: number): Promise<boolean> {
      const { rows } = (await db.raw(`select exists (select 1 from subscriptions s where ${WAITING_FOR_A_JOB}) as waiting`, [staleSeconds])) as {
        rows: { waiting: boolean }[];
      };
      return rows[0]?.waiting === true;
    },

    /**
     * Marks queued up to `limit` subscriptions with work due and no job — a handshake, an unsent
     * notification, a heartbeat — and returns them, to send their jobs in the same transaction. A
     * mark older than `staleSeconds` (its job lost past every retry) counts as none.
     */
    async queueDue(limit: number, staleSeconds: number): Promise<QueuedSubscription[]> {
      const { rows } = (await db.raw(
        `update subscriptions set queued_at = now()
          where id in (
            select s.id from subscriptions s
             where ${WAITING_FOR_A_JOB}
             order by s.queued_at nulls first
             limit ?
             for update skip locked)
          returning id, version_id`,
        [staleSeconds, limit],
      )) as { rows: QueuedSubscription[] };
      return rows;
    },

    /**
     * Writes what one delivery did, if the job still speaks for the subscription, in one statement:
     * the status and counters, the notification sent or passed over, the unsent ones dropped when
     * the subscription goes off, the queue mark cleared when the job ends, and the shared totals.
     */
    async release(job: QueuedSubscription, outcome: DeliveryOutcome): Promise<boolean> {
      const { rows } = (await db.raw(
        `with released as (
           update subscriptions set
             status = coalesce(?::text, status),
             attempts = coalesce(?::int, attempts),
             error = case when ?::boolean then ?::text else error end,
             last_sent_at = coalesce(?::timestamptz, last_sent_at),
             events_since_start = events_since_start + ?::int,
             updated_at = case when ?::text is null then updated_at else now() end,
             queued_at = case when ?::boolean then null else queued_at end
            where id = ? and version_id = ?
            returning id, status),
         done as (
           update subscription_notifications set done_at = now()
            where id = ?::bigint and exists (select 1 from released)),
         dropped as (
           delete from subscription_notifications n using released
            where n.subscription_id = released.id and released.status = 'off' and n.done_at is null),
         totals as (
           insert into notification_totals (name, value)
           select name, value from (values (?::text, 1::double precision), ('last_lag_seconds', ?::double precision)) as t (name, value)
            where name is not null and value is not null and exists (select 1 from released)
           on conflict (name) do update
             set value = case when excluded.name = 'last_lag_seconds' then excluded.value else notification_totals.value + excluded.value end)
         select count(*) as count from released`,
        [
          outcome.status ?? null,
          outcome.attempts ?? null,
          outcome.error !== undefined,
          outcome.error ?? null,
          outcome.last_sent_at ?? null,
          outcome.done?.counted ? 1 : 0,
          outcome.status ?? null,
          outcome.finished ?? false,
          job.id,
          job.version_id,
          outcome.done?.notificationId ?? null,
          outcome.total ?? null,
          outcome.lagSeconds ?? null,
        ],
      )) as { rows: { count: string | number }[] };
      return Number(rows[0]?.count ?? 0) === 1;
    },

    /**
     * Every subscription whose authorization ended (removed, closed account, the Subscription rule
     * turned off) goes `off`, its unsent notifications dropped; returns how many.
     */
    async turnOffEnded(): Promise<number> {
      // One statement, no transaction: the relay runs it every few seconds.
      const { rows } = (await db.raw(
        `with ended as (
           update subscriptions s set status = 'off', updated_at = now()
            where s.status <> 'off' and not ${AUTHORIZATION_LIVE}
            returning s.id),
         dropped as (delete from subscription_notifications n using ended where n.subscription_id = ended.id and n.done_at is null)
         select count(*) as count from ended`,
        [`% ${SUBSCRIPTION_SCOPE} %`],
      )) as { rows: { count: string | number }[] };
      return Number(rows[0]?.count ?? 0);
    },

    /**
     * Forgets notifications sent (or passed over) more than `days` ago, and those waiting that long
     * for a subscription in error (its app never put it right); returns how many.
     */
    async forgetOld(days: number): Promise<number> {
      const { rows } = (await db.raw(
        `with forgotten as (
           delete from subscription_notifications n
            where (n.done_at is not null and n.done_at < now() - make_interval(days => ?))
               or (n.done_at is null and n.occurred_at < now() - make_interval(days => ?)
                   and exists (select 1 from subscriptions s where s.id = n.subscription_id and s.status = 'error'))
            returning 1)
         select count(*) as count from forgotten`,
        [days, days],
      )) as { rows: { count: string | number }[] };
      return Number(rows[0]?.count ?? 0);
    },

    async countByStatus(): Promise<Record<string, number>> {
      const rows = (await subscriptions().select('status').count({ count: '*' }).groupBy('status')) as { status: string; count: string | number }[];
      return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
    },

    async totals(): Promise<Record<string, number>> {
      const rows = (await db.table('notification_totals').select('name', 'value')) as { name: string; value: number }[];
      return Object.fromEntries(rows.map((row) => [row.name, Number(row.value)]));
    },

    /** How long the oldest notification still waiting for an active subscription has waited, in seconds (0 when none waits). */
    async oldestWaitingSeconds(): Promise<number> {
      const { rows } = (await db.raw(
        `select coalesce(extract(epoch from now() - min(n.occurred_at)), 0) as seconds
           from subscription_notifications n join subscriptions s on s.id = n.subscription_id
          where n.done_at is null and s.status = 'active'`,
      )) as { rows: { seconds: string | number }[] };
      return Number(rows[0]?.seconds ?? 0);
    },
  };
}

export type SubscriptionStore = ReturnType<typeof createSubscriptionStore>;
