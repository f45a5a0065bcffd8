/**
 * Starts the OpenID core for a server: makes sure signing and cookie keys exist, builds the
 * provider, and swaps in a rebuilt provider when `carevault keys rotate` (on any instance) changes
 * the published keys.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { Config } from '../config';
import type { Database } from '../db';
import { describeError, log } from '../log';
import { clientSaver } from './clients';
import type { AccessTokens } from './access-tokens';
import type { DeviceFlowHooks } from './device-flow';
import type { AuthorizationHooks } from './grants';
import { createInteractions } from './interactions';
import { createTraceStore } from '../interactions/store';
import { KEY_RELOAD_INTERVAL, ensureSigningKeys, loadCookieKeys, loadServerSecret, loadSigningJwks, signingKeyOrder } from './keys';
import { createProvider, type People } from './provider';
import { createSessions } from './sessions';
import type { TokenObserver } from './token-events';

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export type OidcDeps = {
  config: Config;
  db: Database;
  people: People;
  authorizations: AuthorizationHooks;
  accessTokens: AccessTokens;
  /** The option riding on the device authorization grant, if one does. */
  deviceFlow: DeviceFlowHooks | undefined;
  tokenObserver?: TokenObserver | undefined;
};

export async function startOidc({ config, db, people, authorizations, accessTokens, deviceFlow, tokenObserver }: OidcDeps) {
  await ensureSigningKeys(db, config.keyEncryptionSecret);
  const cookieKeys = await loadCookieKeys(db, config.cookieKeys, config.keyEncryptionSecret);
  const pairwiseSalt = await loadServerSecret(db, 'pairwise_salt', config.keyEncryptionSecret);
  // Asked only once requests arrive, when the provider below exists.
  const interactions = createInteractions(() => current(), db, createTraceStore(db));
  const build = async () => {
    const jwks = await loadSigningJwks(db, config.keyEncryptionSecret);
    await accessTokens.useKeys(jwks);
    return createProvider({
      config,
      db,
      people,
      authorizations,
      deviceFlow,
      jwks,
      accessTokens,
      cookieKeys,
      pairwiseSalt,
      tokenObserver,
      lostAtResume: (uid) => interactions.lostAtResume(uid),
    });
  };

  // Keys are only decrypted again when their order changed (a rotation, or a key activating).
  let order = await signingKeyOrder(db);
  let provider = await build();
  let handler = provider.callback() as Handler;
  const current = (): Provider => provider;

  const reload = async () => {
    const next = await signingKeyOrder(db);
    if (next === order) return;
    order = next;
    provider = await build();
    handler = provider.callback() as Handler;
    log.info('signing keys reloaded', { kids: order });
  };
  const timer = setInterval(() => {
    reload().catch((error: unknown) => log.warn('key reload failed', describeError(error)));
  }, KEY_RELOAD_INTERVAL * 1000);
  timer.unref();

  return {
    cookieKeys,
    interactions,
    sessions: createSessions(current, config.secure),
    handle: (req: IncomingMessage, res: ServerResponse) => handler(req, res),
    /** Stores a client after the live provider's validation (for app registration). */
    saveClient: clientSaver(db, current),
    reload,
    stop: () => clearInterval(timer),
  };
}

export type OidcRuntime = Awaited<ReturnType<typeof startOidc>>;
