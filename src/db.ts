/**
 * The database: knex over the `pg` driver, for a PostgreSQL server (DATABASE_URL) or for the
 * embedded PostgreSQL reached through its socket — one driver and one SQL dialect for both.
 */
import knexFactory, { type Knex } from 'knex';
import type { Config } from './config';
import { openEmbeddedDatabase, type EmbeddedRole } from './db/embedded';
import { migrationSource } from '../migrations';

export type Database = {
  knex: Knex;
  /** `embedded` when the data lives in PGlite under DATA_DIR. */
  kind: 'embedded' | 'postgres';
  /** Throws when the database does not answer. */
  check(): Promise<void>;
  close(): Promise<void>;
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
    });
    return wrap(knex, 'postgres', async () => {});
  }
  // PGlite is one PostgreSQL session behind the socket; queries from several connections at once
  // get their extended-protocol messages mixed ("portal cannot be run"), so this process uses one
  // connection and knex queues the rest. (No code may wait on a second connection inside a
  // transaction: on the embedded database there is none.)
  const poolMax = 1;
  const embedded = await openEmbeddedDatabase(config.dataDir, 32, role);
  const knex = knexFactory({
    client: 'pg',
    connection: { host: embedded.socketDir, user: 'postgres', database: 'postgres' },
    pool: { min: 0, max: poolMax },
  });
  return wrap(knex, 'embedded', () => embedded.close());
}

function wrap(knex: Knex, kind: Database['kind'], closeServer: () => Promise<void>): Database {
  return {
    knex,
    kind,
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
export async function migrate(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}
