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
import { createAccessTokens } from './access-tokens';
import { saveClient } from './clients';
import { createInteractions } from './interactions';
import type { AuthorizationHooks } from './grants';
import { KEY_RELOAD_INTERVAL, ensureSigningKeys, loadCookieKeys, loadServerSecret, loadSigningJwks, signingKeyOrder } from './keys';
import { OIDC_ROUTES, createProvider } from './provider';

export type { AuthorizationHooks };
import { createSessions } from './sessions';

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

const PROVIDER_PATHS: readonly string[] = [...Object.values(OIDC_ROUTES), '/.well-known/openid-configuration'];

/** The paths oidc-provider answers; everything else is carevault's own. */
export function isProviderPath(path: string): boolean {
  return PROVIDER_PATHS.some((route) => path === route || path.startsWith(`${route}/`));
}

type OidcDeps = { config: Config; knex: Knex; accounts: AccountService; authorizations: AuthorizationHooks };

/** Makes sure keys and secrets exist, then builds a provider (also used by the CLI). */
export async function buildProvider({ config, knex, accounts, authorizations }: OidcDeps) {
  await ensureSigningKeys(knex, config.keyEncryptionSecret);
  const cookieKeys = await loadCookieKeys(knex, config.cookieKeys, config.keyEncryptionSecret);
  const pairwiseSalt = await loadServerSecret(knex, 'pairwise_salt', config.keyEncryptionSecret);
  const jwks = await loadSigningJwks(knex, config.keyEncryptionSecret);
  const build = (keys: typeof jwks) => createProvider({ config, knex, accounts, authorizations, jwks: keys, cookieKeys, pairwiseSalt });
  return { provider: build(jwks), cookieKeys, build };
}

export async function startOidc(deps: OidcDeps) {
  const { config, knex } = deps;
  const built = await buildProvider(deps);
  const { cookieKeys } = built;
  let { provider } = built;
  let handler = provider.callback() as Handler;
  const current = (): Provider => provider;

  // Keys are only decrypted again when their order changed (a rotation, or a key activating).
  let order = await signingKeyOrder(knex);
  const reload = async () => {
    const next = await signingKeyOrder(knex);
    if (next === order) return;
    order = next;
    provider = built.build(await loadSigningJwks(knex, config.keyEncryptionSecret));
    handler = provider.callback() as Handler;
    log.info('signing keys reloaded', { kids: order });
  };
  const timer = setInterval(() => {
    reload().catch((error: unknown) => log.warn('key reload failed', describeError(error)));
  }, KEY_RELOAD_INTERVAL * 1000);
  timer.unref();

  return {
    cookieKeys,
    interactions: createInteractions(current),
    sessions: createSessions(current),
    accessTokens: createAccessTokens(current),
    handle: (req: IncomingMessage, res: ServerResponse) => handler(req, res),
    /** Stores a client through the live provider's validation (for app registration). */
    saveClient: (metadata: Record<string, unknown> & { client_id: string }) => saveClient(provider, metadata),
    reload,
    stop: () => clearInterval(timer),
  };
}

export type OidcRuntime = Awaited<ReturnType<typeof startOidc>>;
