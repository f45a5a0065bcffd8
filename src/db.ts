/**
 * The database: knex over the `pg` driver, for a PostgreSQL server (DATABASE_URL) or for the
 * embedded PostgreSQL reached through its socket — one driver and one SQL dialect for both.
 *
 * Transactions are ambient: `db.transaction(fn)` runs `fn` with the transaction in async-local
 * storage, and every store's `db.table(…)` inside it runs on that transaction. A consent, a pickup
 * or a Direct message then writes its rows, oidc-provider's rows and the audit event in one
 * transaction without passing a handle through every call — and no code inside a transaction can
 * wait on a second connection (the embedded database has only one).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import type { Config } from './config';
import { openEmbeddedDatabase, type EmbeddedRole } from './db/embedded';
import { log } from './log';
import { migrationSource } from '../migrations';

/**
 * A statement for a hot path, run by `db.query` as a named prepared statement: PostgreSQL parses
 * and plans it once per connection, and no query builder runs per request. Its SQL lives in a
 * store.ts like every other (knex building SQL was the largest JavaScript cost of a
 * token request after oidc-provider itself).
 */
export type Statement = { readonly name: string; readonly text: string };

/** Names are per connection and must be unique per text: the name is derived from the text. */
export function statement(text: string): Statement {
  return { name: `cv_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`, text };
}

type PgConnection = { query(config: { name?: string; text: string; values: readonly unknown[] }): Promise<{ rows: unknown[] }> };

export type Database = {
  /** `embedded` when the data lives in PGlite under DATA_DIR. */
  kind: 'embedded' | 'postgres';
  /** The pool itself: for migrations and for the few callers that manage connections (rate limits). */
  knex: Knex;
  /** A query on `name` (`'records as r'` works), in the current transaction if there is one. */
  table(name: string): Knex.QueryBuilder;
  /** Raw SQL, in the current transaction if there is one. */
  raw(sql: string, bindings?: readonly Knex.RawBinding[]): Knex.Raw;
  /** Runs a prepared statement with `values` ($1, $2…), in the current transaction if there is one. */
  query<Row>(statement: Statement, values: readonly unknown[]): Promise<Row[]>;
  /**
   * Runs SQL a library brings with it (the job queue's): `values` as $1, $2…, unprepared (with no
   * values its text may hold several statements), in the current transaction if there is one — so
   * a job sent inside a transaction commits or rolls back with it.
   */
  execute(text: string, values: readonly unknown[]): Promise<{ rows: unknown[] }>;
  /** Calls `listener` with the SQL of every statement sent from now on (tests count round trips); returns the unsubscribe. */
  onStatement(listener: (sql: string) => void): () => void;
  /** The database clock, as a value to write or compare. */
  now(): Knex.Raw;
  /** Runs `fn` in a transaction; joins the current one when called inside another. */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Takes a lock held until the current transaction ends (PostgreSQL advisory lock on `key`), so
   * racing requests for the same thing (a consent, a pickup) run one after the other.
   */
  lock(key: string): Promise<void>;
  /** Throws when the database does not answer. */
  check(): Promise<void>;
  close(): Promise<void>;
};

/** knex's own notices (a lost connection, a deprecation) as structured lines, not console prints. */
const KNEX_LOG = {
  warn: (message: unknown) => log.warn('database', { detail: String(message).slice(0, 500) }),
  error: (message: unknown) => log.warn('database', { detail: String(message).slice(0, 500) }),
  deprecate: (method: unknown, alternative: unknown) => log.warn('database: deprecated', { detail: `${String(method)} → ${String(alternative)}` }),
  debug: () => undefined,
};

/** Opens the configured database (serving the embedded one if no other process does). */
export async function openDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir' | 'dbPoolMax'>, role: EmbeddedRole = 'server'): Promise<Database> {
  if (config.databaseUrl) {
    const knex = knexFactory({
      client: 'pg',
      connection: config.databaseUrl,
      pool: { min: 0, max: config.dbPoolMax },
      log: KNEX_LOG,
    });
    return wrap(knex, 'postgres', async () => {});
  }
  // PGlite is one PostgreSQL session behind the socket; queries from several connections at once
  // get their extended-protocol messages mixed ("portal cannot be run"), so this process uses one
  // connection and knex queues the rest.
  const embedded = await openEmbeddedDatabase(config.dataDir, 32, role);
  const knex = knexFactory({
    client: 'pg',
    connection: { host: embedded.socketDir, user: 'postgres', database: 'postgres' },
    pool: { min: 0, max: 1 },
    log: KNEX_LOG,
  });
  return wrap(knex, 'embedded', () => embedded.close());
}

function wrap(knex: Knex, kind: Database['kind'], closeServer: () => Promise<void>): Database {
  const ambient = new AsyncLocalStorage<Knex.Transaction>();
  const current = (): Knex | Knex.Transaction => ambient.getStore() ?? knex;
  const observers = new Set<(sql: string) => void>();
  const observeKnex = (query: { sql: string }) => {
    for (const observer of observers) observer(query.sql);
  };
  // The embedded database serves every socket connection from its one session, where a statement
  // prepared by a connection that was since cut still exists: it runs them unnamed.
  const prepared = kind === 'postgres';
  /** Sends one query on the current transaction's connection, or on a pooled one. */
  const send = async (config: { name?: string; text: string; values: readonly unknown[] }): Promise<{ rows: unknown[] }> => {
    // A transaction's client hands out the transaction's connection and releases nothing.
    const { client } = current() as unknown as {
      client: { acquireConnection(): Promise<PgConnection>; releaseConnection(connection: PgConnection): Promise<void> };
    };
    const connection = await client.acquireConnection();
    for (const observer of observers) observer(config.text);
    try {
      return await connection.query(config);
    } finally {
      await client.releaseConnection(connection);
    }
  };
  return {
    kind,
    knex,
    table: (name: string) => current()(name),
    raw: (sql, bindings = []) => current().raw(sql, bindings as Knex.RawBinding[]),
    async query<Row>(sql: Statement, values: readonly unknown[]): Promise<Row[]> {
      const { rows } = await send(prepared ? { name: sql.name, text: sql.text, values } : { text: sql.text, values });
      return rows as Row[];
    },
    execute: (text, values) => send({ text, values }),
    onStatement(listener) {
      if (observers.size === 0) knex.on('query', observeKnex);
      observers.add(listener);
      return () => {
        observers.delete(listener);
        if (observers.size === 0) knex.removeListener('query', observeKnex);
      };
    },
    now: () => knex.fn.now() as unknown as Knex.Raw,
    transaction<T>(fn: () => Promise<T>): Promise<T> {
      if (ambient.getStore()) return fn();
      return knex.transaction((trx) => ambient.run(trx, fn));
    },
    async lock(key) {
      const trx = ambient.getStore();
      if (!trx) throw new Error('db.lock needs a transaction');
      await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [key]);
    },
    async check() {
      await knex.raw('select 1');
    },
    async close() {
      await knex.destroy();
      await closeServer();
    },
  };
}

/** Brings the schema up to date; safe to run from several processes at once (knex's lock). */
export async function migrate(db: Pick<Database, 'knex'>): Promise<string[]> {
  const [, applied] = (await db.knex.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}

/** Migrations this code knows that the database has not run yet (empty when the schema is current). */
export async function pendingMigrations(db: Pick<Database, 'knex'>): Promise<string[]> {
  const [, pending] = (await db.knex.migrate.list({ migrationSource })) as [unknown[], unknown[]];
  return pending.map((migration) => (Array.isArray(migration) ? String(migration[0]) : String((migration as { name?: unknown }).name ?? migration)));
}

/** The connection pool's state (knex's tarn pool), for the operator's metrics. */
export type PoolStats = { max: number; used: number; free: number; pendingAcquires: number };

export function poolStatsOf(db: Pick<Database, 'knex'>): PoolStats | undefined {
  const pool = (db.knex.client as { pool?: { max: number; numUsed(): number; numFree(): number; numPendingAcquires(): number } }).pool;
  if (!pool) return undefined;
  return { max: pool.max, used: pool.numUsed(), free: pool.numFree(), pendingAcquires: pool.numPendingAcquires() };
}

/** True for PostgreSQL's unique_violation. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}
