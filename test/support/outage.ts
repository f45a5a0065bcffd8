/**
 * Takes a test server's database away and brings it back, as a failing network or a restarting
 * PostgreSQL would: on a PostgreSQL server the database stops taking connections and its backends
 * are terminated (pg_terminate_backend); on the embedded database its socket disappears and the
 * server's connection is cut.
 */
import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import type { TestServer } from './server';

export type Outage = {
  /** Ends every connection of the server to its database (it reconnects on its own). */
  cutConnections(): Promise<number>;
  /** The database refuses new connections and the current ones are cut. */
  begin(): Promise<void>;
  end(): Promise<void>;
  close(): Promise<void>;
};

export function outageOf(server: TestServer): Outage {
  const url = server.config.databaseUrl;
  if (url) {
    const name = new URL(url).pathname.slice(1);
    const admin: Knex = knexFactory({ client: 'pg', connection: { connectionString: url.replace(`/${name}`, '/postgres') }, pool: { min: 0, max: 1 } });
    const cutConnections = async () => {
      const result = await admin.raw('select count(pg_terminate_backend(pid)) as cut from pg_stat_activity where datname = ? and pid <> pg_backend_pid()', [
        name,
      ]);
      return Number((result.rows[0] as { cut: string }).cut);
    };
    return {
      cutConnections,
      async begin() {
        await admin.raw(`alter database "${name}" allow_connections false`);
        await cutConnections();
      },
      async end() {
        await admin.raw(`alter database "${name}" allow_connections true`);
      },
      close: () => admin.destroy(),
    };
  }
  const socket = path.join(server.config.dataDir, '.s.PGSQL.5432');
  const away = `${socket}.away`;
  const cutConnections = async () => {
    const knex = server.db.knex;
    const connection = (await knex.client.acquireConnection()) as { connection: { stream: { destroy(): void } } };
    connection.connection.stream.destroy();
    await knex.client.releaseConnection(connection);
    return 1;
  };
  return {
    cutConnections,
    async begin() {
      fs.renameSync(socket, away);
      try {
        await cutConnections();
      } catch (error) {
        fs.renameSync(away, socket);
        throw error;
      }
    },
    async end() {
      fs.renameSync(away, socket);
    },
    close: async () => {},
  };
}
