/**
 * Registers apps as oidc-provider clients from outside a request (the CLI, and the server's own
 * registration call): oidc-provider's client schema validates the metadata, then it is stored
 * through the adapter like a dynamically registered client (its secret hashed).
 * https://www.rfc-editor.org/rfc/rfc7591#section-2
 */
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';
import { InvalidApp, type SaveClient } from '../apps/service';
import type { Config } from '../config';
import type { Database } from '../db';
import { createAdapterClass } from './adapter';
import { hashClientSecret } from './client-policy';
import { clientRules } from './provider';
import { SIGNING_ALGS } from './protocol';
import { createModelStore } from './store';

/**
 * A provider that only validates client metadata: carevault's client rules, with throwaway keys
 * (nothing is signed). The CLI uses it, so registering an app needs no signing keys.
 */
export async function clientValidator(config: Config, db: Database): Promise<Provider> {
  const keys = await Promise.all(
    SIGNING_ALGS.map(async (alg) => ({ ...(await exportJWK((await generateKeyPair(alg, { extractable: true })).privateKey)), alg, use: 'sig' })),
  );
  // Our adapter, not oidc-provider's in-memory default: that one warns on stderr, and nothing here is stored.
  const adapter = createAdapterClass(createModelStore(db), hashClientSecret, 0);
  return new Provider(config.issuer, { ...clientRules(config), jwks: { keys }, adapter });
}

/** Saves clients after `validator()` accepts them. */
export function clientSaver(db: Database, validator: () => Provider | Promise<Provider>): SaveClient {
  const adapter = new (createAdapterClass(createModelStore(db), hashClientSecret, 0))('Client');
  return async (metadata) => {
    const provider = await validator();
    try {
      await provider.Client.validate(metadata as never);
    } catch (error) {
      if (error instanceof errors.InvalidClientMetadata || error instanceof errors.InvalidRedirectUri) {
        throw new InvalidApp(error.error_description ?? error.message);
      }
      throw error;
    }
    await adapter.upsert(metadata.client_id, metadata as never, 0);
  };
}
