/**
 * Starts the OpenID core: makes sure signing and cookie keys exist, builds the provider, and swaps
 * in a rebuilt provider when `carevault keys rotate` (on any instance) changes the published keys.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Knex } from 'knex';
import type Provider from 'oidc-provider';
import type { AccountService } from '../accounts/service';
import type { Config } from '../config';
import { describeError, log } from '../log';
import { saveClient } from './clients';
import { createInteractions } from './interactions';
import { KEY_RELOAD_INTERVAL, ensureSigningKeys, loadCookieKeys, loadSigningJwks } from './keys';
import { OIDC_ROUTES, createProvider } from './provider';
import { createSessions } from './sessions';

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

function fingerprint(jwks: { keys: { kid?: string }[] }): string {
  return jwks.keys.map((key) => key.kid).join(',');
}

/** The paths oidc-provider answers; everything else is carevault's own. */
export function isProviderPath(path: string): boolean {
  const owned = [...Object.values(OIDC_ROUTES), '/.well-known/openid-configuration'];
  return owned.some((route) => path === route || path.startsWith(`${route}/`));
}

export async function startOidc({ config, knex, accounts }: { config: Config; knex: Knex; accounts: AccountService }) {
  await ensureSigningKeys(knex, config.keyEncryptionSecret);
  const cookieKeys = await loadCookieKeys(knex, config.cookieKeys, config.keyEncryptionSecret);
  let jwks = await loadSigningJwks(knex, config.keyEncryptionSecret);
  let provider = createProvider({ config, knex, accounts, jwks, cookieKeys });
  let handler = provider.callback() as Handler;
  const current = (): Provider => provider;

  const reload = async () => {
    const next = await loadSigningJwks(knex, config.keyEncryptionSecret);
    if (fingerprint(next) === fingerprint(jwks)) return;
    jwks = next;
    provider = createProvider({ config, knex, accounts, jwks, cookieKeys });
    handler = provider.callback() as Handler;
    log.info('signing keys reloaded', { kids: fingerprint(jwks) });
  };
  const timer = setInterval(() => {
    reload().catch((error: unknown) => log.warn('key reload failed', describeError(error)));
  }, KEY_RELOAD_INTERVAL * 1000);
  timer.unref();

  return {
    cookieKeys,
    interactions: createInteractions(current),
    sessions: createSessions(current),
    handle: (req: IncomingMessage, res: ServerResponse) => handler(req, res),
    /** Stores a client through the live provider's validation (for app registration). */
    saveClient: (metadata: Record<string, unknown> & { client_id: string }) => saveClient(provider, metadata),
    reload,
    stop: () => clearInterval(timer),
  };
}

export type OidcRuntime = Awaited<ReturnType<typeof startOidc>>;
