/**
 * The work behind each `carevault` command (loaded only once the settings are known to be good),
 * on the same composition root as the server. None needs the OpenID core running: registering an
 * app checks the document with the same client rules, without signing keys.
 */
import { composeServices } from './compose';
import type { Config } from './config';
import { migrate, openDatabase, type Database } from './db';
import { FEATURES } from './features';
import { clientSaver, clientValidator } from './oidc/clients';
import { ensureSigningKeys, rotateSigningKeys } from './oidc/keys';

async function withDatabase<T>(config: Config, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(config, 'command');
  try {
    await migrate(db);
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Brings the schema up to date; returns the migrations applied. */
export async function migrateCommand(config: Config): Promise<string[]> {
  const db = await openDatabase(config, 'command');
  try {
    return await migrate(db);
  } finally {
    await db.close();
  }
}

/** Registers an app from its registration document; returns the registered client. */
export function createAppCommand(config: Config, document: unknown): Promise<Record<string, unknown>> {
  return withDatabase(config, (db) => {
    const validator = clientValidator(config, db);
    return composeServices(
      config,
      db,
      clientSaver(db, () => validator),
      FEATURES,
    ).apps.register(document);
  });
}

export function rotateKeysCommand(config: Config) {
  return withDatabase(config, async (db) => {
    await ensureSigningKeys(db, config.keyEncryptionSecret);
    return rotateSigningKeys(db, config.keyEncryptionSecret);
  });
}
