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
  // The embedded server queues queries from all connections on one engine; a small pool is enough
  // and leaves connections for the CLI and a second instance.
  const poolMax = Math.min(config.dbPoolMax, 4);
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
