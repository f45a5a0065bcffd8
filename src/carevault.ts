/**
 * Start-up and shutdown of one carevault instance, in order: database → migrations → services →
 * OpenID core → express app → listening. Used by `npm start` and by the tests alike.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAccountService } from './accounts/service';
import { createApp } from './app';
import { createFhirService } from './fhir/service';
import { createAuditLog } from './audit/service';
import { authorizationHooks, createAuthorizationService } from './authorizations/service';
import { registerApp } from './apps/service';
import type { Config } from './config';
import { migrate, openDatabase, type Database } from './db';
import { log, setLogLevel } from './log';
import { startOidc } from './oidc/runtime';
import { startSweeper } from './sweeper';

export type Carevault = {
  url: string;
  db: Database;
  server: http.Server;
  /** Picks up rotated signing keys now rather than at the next periodic check. */
  reloadKeys(): Promise<void>;
  /** Registers an app from a registration document, as `carevault apps create` does. */
  registerApp(document: unknown): Promise<Record<string, unknown>>;
  /** Stops accepting requests, lets running ones finish, then closes the database. */
  close(): Promise<void>;
};

export async function startCarevault(config: Config): Promise<Carevault> {
  setLogLevel(config.logLevel);
  const db = await openDatabase(config);
  try {
    const applied = await migrate(db.knex);
    if (applied.length) log.info('database migrated', { applied });
    const accounts = createAccountService(db.knex, config);
    const audit = createAuditLog(db.knex);
    const authorizations = createAuthorizationService(db.knex, audit);
    const oidc = await startOidc({ config, knex: db.knex, accounts, authorizations: authorizationHooks(accounts, authorizations) });
    const fhir = createFhirService(db.knex, audit, (id) => authorizations.touch(id));
    const app = createApp({ config, db, accounts, authorizations, audit, fhir, oidc });
    const stopSweeper = startSweeper(db.knex, config.sweepInterval);

    const server = http.createServer(app);
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://localhost:${port}`;
    log.info('carevault is serving', { url, issuer: config.issuer, database: db.kind });

    let closing: Promise<void> | undefined;
    return {
      url,
      db,
      server,
      registerApp: (document) => registerApp(document, oidc.saveClient),
      reloadKeys: () => oidc.reload(),
      close() {
        closing ??= (async () => {
          oidc.stop();
          await stopSweeper();
          await new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeIdleConnections();
          });
          await db.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
}
