/**
 * Start-up and shutdown of one carevault instance, in order: database → migrations → services →
 * OpenID core → express app → listeners (HTTP, and those features register) → sweeper; and back.
 * Used by `npm start` and by the tests alike.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app';
import { composeFeatures, composeServices, type Listener } from './compose';
import type { Config } from './config';
import { migrate, openDatabase, type Database } from './db';
import { log, setLogLevel } from './log';
import { countConsents } from './metrics/consents';
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
  /** Stops accepting requests, lets running ones finish, then closes the database. */
  close(): Promise<void>;
};

/** The HTTP listener for the express app. */
function httpListener(app: http.RequestListener, port: number): Listener & { server: http.Server } {
  const server = http.createServer(app);
  server.keepAliveTimeout = 5_000;
  return {
    name: 'http',
    server,
    start: () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, () => resolve());
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

export async function startCarevault(config: Config): Promise<Carevault> {
  setLogLevel(config.logLevel);
  const db = await openDatabase(config);
  const started: Listener[] = [];
  let oidc: OidcRuntime | undefined;
  try {
    const applied = await migrate(db);
    if (applied.length) log.info('database migrated', { applied });
    const metrics = config.metrics.enabled ? createMetrics(db) : undefined;
    const composed = composeServices(config, db, (metadata) => (oidc as OidcRuntime).saveClient(metadata));
    const services = metrics ? countConsents(composed, metrics) : composed;
    oidc = await startOidc({ config, db, people: services.people, authorizations: services.authorizationHooks, connect: services.connectHooks, tokenObserver: metrics?.tokens });
    const features = composeFeatures(services, oidc);
    const app = createApp({ services, oidc, features, metrics });
    const web = httpListener(app, config.port);
    const sweeps = [...services.sweeps, ...features.flatMap((feature) => feature.sweeps ?? [])];
    for (const listener of [web, ...features.flatMap((feature) => feature.listeners ?? [])]) {
      await listener.start();
      started.push(listener);
    }
    const stopSweeper = startSweeper(sweeps, config.sweepInterval);
    const { port } = web.server.address() as AddressInfo;
    const url = `http://localhost:${port}`;
    log.info('carevault is serving', { url, issuer: config.issuer, database: db.kind });

    const runtime = oidc;
    let closing: Promise<void> | undefined;
    return {
      url,
      db,
      server: web.server,
      registerApp: (document) => services.apps.register(document),
      reloadKeys: () => runtime.reload(),
      sweepOnce: () => sweepOnce(sweeps),
      close() {
        closing ??= (async () => {
          runtime.stop();
          await stopSweeper();
          for (const listener of started.reverse()) await listener.close();
          await db.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    oidc?.stop();
    for (const listener of started.reverse()) await listener.close().catch(() => undefined);
    await db.close().catch(() => undefined);
    throw error;
  }
}
