/**
 * What the tests and the bench both need before a carevault can start: a port the kernel handed
 * out, and a database of their own on a PostgreSQL server (dropped afterwards). Kept apart from
 * server.ts so the bench can use it without pulling in the test server.
 */
import net from 'node:net';
import knexFactory from 'knex';

/** A port the kernel chose (listen on 0), free again when this resolves. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A database of its own on the PostgreSQL server of `baseUrl`; `prefix` says who made it. */
export async function createPostgresDatabase(baseUrl: string, prefix = 'carevault_test'): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = knexFactory({ client: 'pg', connection: baseUrl, pool: { min: 0, max: 1 } });
  await admin.raw(`create database ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.raw(`drop database if exists ${name} with (force)`);
      await admin.destroy();
    },
  };
}
