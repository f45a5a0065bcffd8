/**
 * SQL for connect requests (Patient Connect). A request is found by the device code it rides on
 * through the SHA-256 of that code, the key oidc_models keeps it under too: the table holds no
 * code an app could poll with (security/credential-keys.ts).
 */
import type { Database } from '../db';
import { credentialKey } from '../security/credential-keys';
import type { CONNECT_STATUSES } from './schemas';

export type ConnectStatus = (typeof CONNECT_STATUSES)[number];

export type ConnectRequestRow = {
  id: string;
  client_id: string;
  external_id: string;
  friendly_name: string;
  question: string;
  answer_hash: string;
  /** SHA-256 of the device code (credentialKey). */
  device_code_hash: string;
  status: ConnectStatus;
  wrong_answers: number;
  answered_by: string | null;
  record_id: string | null;
  created_at: Date;
  expires_at: Date;
  authorized_at: Date | null;
  ended_at: Date | null;
  last_polled_at: Date | null;
  poll_interval: number;
};

export type NewConnectRequest = Pick<ConnectRequestRow, 'id' | 'client_id' | 'external_id' | 'friendly_name' | 'question' | 'answer_hash' | 'expires_at' | 'poll_interval'> & {
  device_code: string;
};

export function createConnectStore(db: Database) {
  const table = () => db.table('connect_requests');

  return {
    lock(id: string): Promise<void> {
      return db.lock(`connect:${id}`);
    },

    async insert({ device_code: deviceCode, ...row }: NewConnectRequest): Promise<void> {
      await table().insert({ ...row, device_code_hash: credentialKey(deviceCode) });
    },

    async find(id: string): Promise<ConnectRequestRow | undefined> {
      return table().where({ id }).first();
    },

    async findByDeviceCode(deviceCode: string): Promise<ConnectRequestRow | undefined> {
      return table().where({ device_code_hash: credentialKey(deviceCode) }).first();
    },

    async findPending(clientId: string, externalId: string): Promise<ConnectRequestRow | undefined> {
      return table().where({ client_id: clientId, external_id: externalId, status: 'pending' }).first();
    },

    async update(id: string, changes: Partial<Omit<ConnectRequestRow, 'id' | 'client_id' | 'device_code_hash'>>): Promise<void> {
      await table().where({ id }).update(changes);
    },

    /** Counts a wrong answer; returns how many there have been. */
    async countWrongAnswer(id: string): Promise<number> {
      const [row] = (await table().where({ id }).increment('wrong_answers', 1).returning('wrong_answers')) as { wrong_answers: number }[];
      return row?.wrong_answers ?? 0;
    },

    /**
     * Records a poll of the token endpoint by the request's own app. Returns the request as it was,
     * and whether the poll came sooner than its interval (then the interval grows by 5 seconds,
     * RFC 8628 §3.5); `undefined` for a device code that is no request of `clientId`'s.
     */
    async poll(deviceCode: string, clientId: string): Promise<{ row: ConnectRequestRow; tooSoon: boolean } | undefined> {
      const { rows } = (await db.raw(
        `with before as (select id, last_polled_at, poll_interval from connect_requests where device_code_hash = ? and client_id = ? for update)
         update connect_requests c
            set poll_interval = case when b.last_polled_at > now() - make_interval(secs => b.poll_interval) then b.poll_interval + 5 else b.poll_interval end,
                last_polled_at = now()
           from before b
          where c.id = b.id
          returning c.*, coalesce(b.last_polled_at > now() - make_interval(secs => b.poll_interval), false) as too_soon`,
        [credentialKey(deviceCode), clientId],
      )) as { rows: (ConnectRequestRow & { too_soon: boolean })[] };
      const [row] = rows;
      return row ? { row, tooSoon: Boolean(row.too_soon) } : undefined;
    },

    /**
     * The app's requests, oldest change first, after a position (keyset paging on id within a
     * time). Times are ordered to the millisecond, the precision a position carries: the database
     * keeps microseconds, and a position rounded down would show its own row again.
     */
    async list(clientId: string, filter: { status?: ConnectStatus; since?: Date; after?: { at: Date; id: string }; count: number }): Promise<ConnectRequestRow[]> {
      const changed = "date_trunc('milliseconds', coalesce(authorized_at, ended_at, created_at))";
      const query = table().where({ client_id: clientId });
      if (filter.status) query.andWhere({ status: filter.status });
      if (filter.since) query.andWhere(db.raw('coalesce(authorized_at, ended_at, created_at)'), '>=', filter.since);
      if (filter.after) query.andWhereRaw(`(${changed}, id) > (?, ?)`, [filter.after.at, filter.after.id]);
      return query.orderByRaw(`${changed} asc, id asc`).limit(filter.count);
    },

    /** Marks pending requests whose time ran out as expired; returns them. */
    async expire(): Promise<ConnectRequestRow[]> {
      return table().where({ status: 'pending' }).andWhere('expires_at', '<', db.now()).update({ status: 'expired', ended_at: db.now() }).returning('*');
    },

    /** How many connect requests are in each stored status, for the operator's metrics (all apps). */
    async countByStatus(): Promise<Record<string, number>> {
      const rows = (await table().select('status').count({ count: '*' }).groupBy('status')) as { status: string; count: string | number }[];
      return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
    },
  };
}
