/**
 * Start-up and shutdown of one carevault instance, in order: database → migrations → services →
 * features (phase one) → OpenID core → features (phase two) → express app → listeners (HTTP, and
 * those features register) → sweeper; and back. Used by `npm start` and by the tests alike.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequestListener } from './app';
import { httpListener } from './http/listener';
import { composeFeatures, composeServices } from './compose';
import { ConfigError, type Config } from './config';
import { migrate, openDatabase, type Database } from './db';
import type { FeatureDefinition, Listener } from './feature';
import { FEATURES } from './features';
import { log, setLogLevel } from './log';
import { countConsents, countDeviceFlowConsents } from './metrics/consents';
import { createMetrics } from './metrics/registry';
import { startOidc, type OidcRuntime } from './oidc/runtime';
import { startSweeper, sweepOnce } from './sweeper';

export type Carevault = {
  url: string;
  db: Database;
  server: http.Server;
  /** Picks up rotated signing keys now rather than at the next periodic check. */
  reloadKeys(): Promise<void>;
  /** Registers an app from a registration document, as `carevault apps create` does. */
  registerApp(document: unknown): Promise<Record<string, unknown>>;
  /** Runs every sweep now; returns how many rows each removed. */
  sweepOnce(): Promise<Record<string, number>>;
  /** Waits until what record events set off after their requests (a mail that a message arrived) is done. */
  settled(): Promise<void>;
  /** Stops accepting requests, lets running ones finish, closes idle connections, then the database. */
  close(): Promise<void>;
  /**
   * The graceful stop on SIGTERM: stops accepting, answers every request still coming on open
   * connections with `Connection: close` until each has closed (or `deadline`, epoch ms, passed:
   * then the rest are cut), then closes the rest. Returns how many connections were cut.
   */
  shutdown(deadline: number): Promise<number>;
};

/**
 * carevault listens on plain http; an https issuer therefore means a TLS proxy in front, whose
 * `X-Forwarded-Proto` only counts with TRUST_PROXY. Without it oidc-provider sees every request as
 * insecure and fails each authorization with a 500, so refuse to start and say why.
 */
function checkIssuerScheme(config: Config): void {
  if (config.secure && !config.trustProxy) {
    throw new ConfigError(
      `setting TRUST_PROXY is invalid: ISSUER ${config.issuer} is https, but carevault serves plain http — put it behind a TLS proxy and set TRUST_PROXY=true (or use an http:// ISSUER)`,
    );
  }
}

/**
 * Without KEY_ENCRYPTION_SECRET the signing keys and the other server secrets lie in the database
 * in clear, and the access tokens carevault checks are signed with keys derived from those signing
 * keys: a copy of the database (a backup, a replica, a dump) could sign tokens carevault accepts.
 * Nothing fails, so say it once at every start, where an operator reads the log.
 */
function warnOfUnsealedKeys(config: Config): void {
  if (config.keyEncryptionSecret) return;
  log.warn(
    'KEY_ENCRYPTION_SECRET is not set, so the signing keys and server secrets are stored unencrypted in the database: anyone with a copy of it (a backup, a replica, a dump) can sign access and ID tokens that carevault accepts. Set KEY_ENCRYPTION_SECRET to a random secret of at least 32 characters (openssl rand -base64 48) and restart; the stored keys are encrypted at that start. Keep the secret: carevault cannot start on the database without it.',
    { setting: 'KEY_ENCRYPTION_SECRET' },
  );
}

/** `features`: the connectivity options to run (the server's list unless a test gives another). */
export async function startCarevault(config: Config, features: readonly FeatureDefinition[] = FEATURES): Promise<Carevault> {
  setLogLevel(config.logLevel);
  checkIssuerScheme(config);
  const db = await openDatabase(config);
  const started: Listener[] = [];
  let oidc: OidcRuntime | undefined;
  try {
    const applied = await migrate(db);
    if (applied.length) log.info('database migrated', { applied });
    const metrics = config.metrics.enabled ? createMetrics(db) : undefined;
    const composed = composeServices(config, db, (metadata) => (oidc as OidcRuntime).saveClient(metadata), features);
    const services = metrics ? countConsents(composed, metrics) : composed;
    const built = composeFeatures(features, services);
    const deviceFlow = built.deviceFlow && (metrics ? countDeviceFlowConsents(built.deviceFlow, metrics) : built.deviceFlow.hooks);
    oidc = await startOidc({
      config,
      db,
      people: services.people,
      authorizations: services.authorizationHooks,
      accessTokens: services.accessTokens,
      deviceFlow,
      tokenObserver: metrics?.tokens,
    });
    const running = built.afterProvider(oidc);
    metrics?.watch(running.flatMap((feature) => feature.gauges ?? []));
    const web = httpListener(createRequestListener({ services, oidc, features: running, metrics }), config.port);
    const sweeps = [...services.sweeps, ...running.flatMap((feature) => feature.sweeps ?? [])];
    for (const listener of [web, ...running.flatMap((feature) => feature.listeners ?? [])]) {
      await listener.start();
      started.push(listener);
    }
    const stopSweeper = startSweeper(sweeps, config.sweepInterval);
    const { port } = web.server.address() as AddressInfo;
    const url = `http://localhost:${port}`;
    log.info('carevault is serving', { url, issuer: config.issuer, database: db.kind });
    warnOfUnsealedKeys(config);

    const runtime = oidc;
    let closing: Promise<void> | undefined;
    const closeAll = () => {
      closing ??= (async () => {
        runtime.stop();
        await stopSweeper();
        for (const listener of started.reverse()) await listener.close();
        await services.recordEvents.settled();
        await services.accounts.settled();
        await db.close();
      })();
      return closing;
    };
    return {
      url,
      db,
      server: web.server,
      registerApp: (document) => services.apps.register(document),
      reloadKeys: () => runtime.reload(),
      sweepOnce: () => sweepOnce(sweeps),
      settled: async () => {
        await services.recordEvents.settled();
        await services.accounts.settled();
      },
      close: closeAll,
      async shutdown(deadline) {
        const cut = await web.drain(deadline);
        await closeAll();
        return cut;
      },
    };
  } catch (error) {
    oidc?.stop();
    for (const listener of started.reverse()) await listener.close().catch(() => undefined);
    await db.close().catch(() => undefined);
    throw error;
  }
}
