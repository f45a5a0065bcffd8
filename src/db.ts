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
import knexFactory, { type Knex } from 'knex';
import type { Config } from './config';
import { openEmbeddedDatabase, type EmbeddedRole } from './db/embedded';
import { log } from './log';
import { migrationSource } from '../migrations';

export type Database = {
  /** `embedded` when the data lives in PGlite under DATA_DIR. */
  kind: 'embedded' | 'postgres';
  /** The pool itself: for migrations and for the few callers that manage connections (rate limits). */
  knex: Knex;
  /** A query on `name` (`'records as r'` works), in the current transaction if there is one. */
  table(name: string): Knex.QueryBuilder;
  /** Raw SQL, in the current transaction if there is one. */
  raw(sql: string, bindings?: readonly Knex.RawBinding[]): Knex.Raw;
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
export async function openDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir' | 'dbPoolMax'>,
  role: EmbeddedRole = 'server',
): Promise<Database> {
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
  return {
    kind,
    knex,
    table: (name: string) => current()(name),
    raw: (sql, bindings = []) => current().raw(sql, bindings as Knex.RawBinding[]),
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
