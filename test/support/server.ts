/**
 * Starts a real carevault for a test file: on a fresh embedded database in a temporary directory,
 * or, when DATABASE_URL is set, on a fresh database created on that PostgreSQL server.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCarevault, type Carevault } from '../../src/carevault';
import { loadConfig, type Config } from '../../src/config';
import type { FeatureDefinition } from '../../src/feature';
import { createPostgresDatabase, freePort } from './scratch';
import { watchLogForCredentials } from './secrets-in-logs';

export type TestServer = Carevault & {
  config: Config;
  issuer: string;
  stop(): Promise<void>;
  /**
   * Stops this server and starts carevault again on its data, issuer and port with `overrides` on
   * top of its settings, as an operator restarting with new ones; the new server owns the data.
   */
  restart(overrides: Record<string, string>): Promise<TestServer>;
};

/**
 * Starts carevault on a fresh database, or, with `sameDatabaseAs`, a second instance of the same
 * issuer on that server's database (its own port); stopping the second leaves the data alone.
 * `features` replaces the server's list of connectivity options.
 */
export async function startTestServer(
  overrides: Record<string, string> = {},
  sameDatabaseAs?: TestServer,
  features?: readonly FeatureDefinition[],
): Promise<TestServer> {
  const port = await freePort();
  const shared = sameDatabaseAs?.config;
  const dataDir = shared?.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cv-test-'));
  const baseUrl = loadConfig().databaseUrl;
  const database = shared ? undefined : baseUrl ? await createPostgresDatabase(baseUrl) : undefined;
  const settings = {
    PORT: String(port),
    ISSUER: shared?.issuer ?? `http://localhost:${port}`,
    DATA_DIR: dataDir,
    DATABASE_URL: shared ? (shared.databaseUrl ?? '') : (database?.url ?? ''),
    LOG_LEVEL: 'error',
    // Test files start many authorizations from one address in a minute; the limit has its own test.
    AUTHORIZATION_REQUESTS_PER_ADDRESS: '100000',
    ...overrides,
  };
  const forget = async () => {
    if (shared) return;
    await database?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  return serve(settings, features, forget);
}

/** Starts carevault with `settings`; its stop closes it, then `forget`s its data. */
async function serve(settings: Record<string, string>, features: readonly FeatureDefinition[] | undefined, forget: () => Promise<void>): Promise<TestServer> {
  const config = loadConfig(settings);
  const logWatch = watchLogForCredentials();
  const carevault = await startCarevault(config, features);
  logWatch.watch(carevault.server);
  /** Closes carevault, telling a credential it wrote to the log. */
  const close = async () => {
    let leak: unknown;
    try {
      logWatch.check();
    } catch (error) {
      leak = error;
    }
    await carevault.close();
    if (leak) throw leak;
  };
  return {
    ...carevault,
    config,
    issuer: config.issuer,
    async stop() {
      try {
        await close();
      } finally {
        await forget();
      }
    },
    async restart(overrides) {
      await close();
      return serve({ ...settings, ...overrides }, features, forget);
    },
  };
}

/** The id of the person's own record (looked up in the database, as an operator would). */
export async function ownRecordOf(server: TestServer, email: string): Promise<string> {
  const row = await server.db
    .knex('records as r')
    .join('custodianships as c', 'c.record_id', 'r.id')
    .join('people as p', 'p.id', 'c.person_id')
    .where('p.email', email)
    .andWhere('c.relationship', 'self')
    .first('r.id');
  return row.id as string;
}

/** The id of the record whose Patient is named `name` (a record's name is its Patient's). */
export async function recordIdNamed(server: TestServer, name: string): Promise<string | undefined> {
  const row = await server.db.knex('resources').where({ type: 'Patient' }).whereRaw(`content->'name'->0->>'text' = ?`, [name]).first('record_id');
  return row?.record_id as string | undefined;
}
