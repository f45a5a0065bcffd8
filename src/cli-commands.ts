/**
 * The work behind each `carevault` command (loaded only once the settings are known to be good).
 */
import { createAccountService } from './accounts/service';
import { registerApp } from './apps/service';
import { createAuditLog } from './audit/service';
import { authorizationHooks, createAuthorizationService } from './authorizations/service';
import type { Config } from './config';
import { migrate, openDatabase, type Database } from './db';
import { saveClient } from './oidc/clients';
import { ensureSigningKeys, rotateSigningKeys } from './oidc/keys';
import { buildProvider } from './oidc/runtime';

async function withDatabase<T>(config: Config, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(config, 'command');
  try {
    await migrate(db.knex);
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Brings the schema up to date; returns the migrations applied. */
export async function migrateCommand(config: Config): Promise<string[]> {
  const db = await openDatabase(config, 'command');
  try {
    return await migrate(db.knex);
  } finally {
    await db.close();
  }
}

/** Registers an app from its registration document; returns the registered client. */
export function createAppCommand(config: Config, document: unknown): Promise<Record<string, unknown>> {
  return withDatabase(config, async ({ knex }) => {
    const accounts = createAccountService(knex, config);
    const authorizations = authorizationHooks(accounts, createAuthorizationService(knex, createAuditLog(knex)));
    const { provider } = await buildProvider({ config, knex, accounts, authorizations });
    return registerApp(document, (metadata) => saveClient(provider, metadata));
  });
}

export function rotateKeysCommand(config: Config) {
  return withDatabase(config, async ({ knex }) => {
    await ensureSigningKeys(knex, config.keyEncryptionSecret);
    return rotateSigningKeys(knex, config.keyEncryptionSecret);
  });
}
