/**
 * `npm run bench`: carevault's hot paths under load from a separate process (autocannon), each
 * beside a reference measured in the same run on the same machine — bare oidc-provider with its
 * memory adapter for the token endpoint, a minimal express handler (one token lookup, one indexed
 * query) on the same database for FHIR reads — on the embedded database and, when DATABASE_URL is
 * set, on a scratch database of that PostgreSQL server; and, during the FHIR create load, how late
 * the notifications of those changes arrive (notifications.ts). Prints a table and one JSON document
 * Options: bench/options.ts.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import type { LoadSpec } from './load';
import { subscribe, type NotificationLag } from './notifications';
import { USAGE, readOptions, type BenchDatabase, type BenchOptions } from './options';
import { SERVER_NODE_ARGS, SERVER_SCRIPT, residentMb, runLoad, startChild, waitReady, type Child } from './processes';
import type { ReferenceHandlerReady } from './reference-handler';
import type { ReferenceFrontReady } from './reference-front';
import type { ReferenceProviderReady } from './reference-provider';
import {
  FRONT_LAYERS,
  FRONT_ROW,
  RSS_TARGET_MB,
  growth,
  row,
  table,
  type BenchReport,
  type Figures,
  type FrontLayer,
  type FrontReport,
  type Row,
} from './report';
import { createPostgresDatabase, freePort } from '../test/support/scratch';
import { OBSERVATION, REDIRECT_URI, SCOPE, basic, seed } from './seed';
import { bulkSeed, grantOfToken } from './store';

const FORM = 'application/x-www-form-urlencoded';
/** A FHIR read's path, so the metrics step does all it does for one (it also times by resource type and interaction). */
const FRONT_PATH = '/fhir/Observation/front';

async function expectActive(url: string, auth: string, token: string): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { authorization: auth, 'content-type': FORM }, body: `token=${token}` });
  const body = (await res.json()) as { active?: boolean };
  if (body.active !== true) throw new Error(`${url} does not find the token it is to introspect`);
}

/** A client-credentials access token from a reference provider. */
async function appToken(url: string, auth: string): Promise<string> {
  const res = await fetch(`${url}/token`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': FORM },
    body: 'grant_type=client_credentials&scope=dopu',
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

async function benchDatabase(database: BenchDatabase, options: BenchOptions, log: (line: string) => void): Promise<BenchReport['databases'][number]> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cv-bench-'));
  const scratch = database === 'postgres' && options.databaseUrl ? await createPostgresDatabase(options.databaseUrl, 'carevault_bench') : undefined;
  const children: Child[] = [];
  try {
    const port = await freePort();
    const issuer = `http://localhost:${port}`;
    const initialAccessToken = randomBytes(24).toString('base64url');
    const poolMax = database === 'embedded' ? 1 : 10;
    const env = {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      PORT: String(port),
      ISSUER: issuer,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'error',
      DB_POOL_MAX: String(poolMax),
      REGISTRATION_INITIAL_ACCESS_TOKEN: initialAccessToken,
      // Every seeded person and every measured sign-in comes from this one address; the
      // per-address limit on authorization requests would answer 429 after 60 a minute.
      AUTHORIZATION_REQUESTS_PER_ADDRESS: '1000000000',
      // The notification endpoint is the bench's own, on 127.0.0.1.
      SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS: 'true',
      ...(scratch ? { DATABASE_URL: scratch.url } : {}),
    };
    const server = startChild(SERVER_SCRIPT, [], env, [...SERVER_NODE_ARGS, ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)]);
    children.push(server);
    await waitReady(`${issuer}/healthz`, server);
    log(`${database}: carevault up (${residentMb(server.process.pid).toFixed(0)} MB); seeding`);
    const fixture = await seed(issuer, initialAccessToken, options.chains);

    const connection = scratch?.url ?? dataDir;
    const { seconds, connections } = options;
    const pid = server.process.pid;
    const cvAuth = basic(fixture.clientId, fixture.clientSecret);
    const bearer = { authorization: `Bearer ${fixture.accessToken}` };
    const post = (url: string, auth: string, body: string): LoadSpec => ({
      kind: 'request',
      url,
      method: 'POST',
      headers: { authorization: auth, 'content-type': FORM },
      body,
      connections,
      seconds,
    });
    const read = (base: string): LoadSpec => ({
      kind: 'request',
      url: `${base}/fhir/Observation/${fixture.observationId}`,
      method: 'GET',
      headers: bearer,
      connections,
      seconds,
    });
    const search: LoadSpec = { kind: 'request', url: `${issuer}/fhir/Observation?code=29463-7`, method: 'GET', headers: bearer, connections, seconds };
    /** The paths whose p99 is compared before and after the bulk rows (within 1.5×). */
    const clientCredentials = post(`${issuer}/token`, cvAuth, 'grant_type=client_credentials&scope=dopu');
    const introspection = post(`${issuer}/introspect`, cvAuth, `token=${fixture.appToken}`);
    const lookups: [string, LoadSpec][] = [
      ['client_credentials', clientCredentials],
      ['introspection', introspection],
      ['FHIR read', read(issuer)],
      ['FHIR search (20)', search],
    ];
    const wanted = (name: string) => !options.paths || options.paths.includes(name);

    const emptyP99 = new Map<string, number>();
    if (options.bulk > 0) {
      for (const [name, spec] of lookups.filter(([name]) => wanted(name))) {
        const figures = await runLoad(spec, pid);
        log(`${database}: ${name} before the bulk rows: ${figures.perSecond.toFixed(0)} /s, p99 ${figures.p99.toFixed(1)} ms`);
        emptyP99.set(name, figures.p99);
      }
      log(`${database}: adding ${options.bulk.toLocaleString('en-US')} tokens and resources`);
      const pool = connection.startsWith('postgres')
        ? new Pool({ connectionString: connection, max: 1 })
        : new Pool({ host: connection, user: 'postgres', database: 'postgres', max: 1 });
      try {
        const grant = await grantOfToken(pool, fixture.accessToken);
        if (!grant) throw new Error('the bench token has no grant');
        await bulkSeed(pool, options.bulk, grant.grantId, grant.clientId, fixture.otherRecordId);
      } finally {
        await pool.end();
      }
    }

    const provider = startChild(path.join(__dirname, 'reference-provider.js'), [String(options.chains)]);
    children.push(provider);
    const bare = JSON.parse(await provider.firstLine) as ReferenceProviderReady;
    // The same provider over the same PostgreSQL (its own table in the scratch database, the same
    // pool size). On the embedded database there is none: PGlite serves one connection, carevault's.
    const onDatabase = scratch ? startChild(path.join(__dirname, 'reference-provider.js'), [String(options.chains), scratch.url, String(poolMax)]) : undefined;
    if (onDatabase) children.push(onDatabase);
    const bareOnDatabase = onDatabase ? (JSON.parse(await onDatabase.firstLine) as ReferenceProviderReady) : undefined;
    const databaseReferenceSkipped = onDatabase
      ? undefined
      : "bare oidc-provider on PostgreSQL is not measured on the embedded database: PGlite serves one connection, and it is carevault's";
    if (databaseReferenceSkipped) log(`${database}: ${databaseReferenceSkipped}`);
    const dbUrl = bareOnDatabase && `http://127.0.0.1:${bareOnDatabase.port}`;
    const dbAuth = bareOnDatabase && basic(bareOnDatabase.clientId, bareOnDatabase.clientSecret);
    /** Measures bare oidc-provider on PostgreSQL for one path, when it runs. */
    const onPostgres = async (name: string, spec: (url: string, auth: string, ready: ReferenceProviderReady) => LoadSpec | Promise<LoadSpec>) =>
      onDatabase && dbUrl && dbAuth && bareOnDatabase
        ? {
            name: 'bare oidc-provider on PostgreSQL',
            ...(await measure(`bare oidc-provider on PostgreSQL ${name}`, await spec(dbUrl, dbAuth, bareOnDatabase), onDatabase.process.pid)),
          }
        : null;
    const handler = startChild(path.join(__dirname, 'reference-handler.js'), [connection, String(poolMax)]);
    children.push(handler);
    const minimal = JSON.parse(await handler.firstLine) as ReferenceHandlerReady;
    const bareUrl = `http://127.0.0.1:${bare.port}`;
    const measure = async (name: string, spec: LoadSpec, of: number | undefined): Promise<Figures> => {
      const figures = await runLoad(spec, of);
      log(
        `${database}: ${name}: ${figures.perSecond.toFixed(0)} /s, p99 ${figures.p99.toFixed(1)} ms, ${figures.errors} errors, ${figures.cpuMsPerRequest.toFixed(2)} CPU ms/request`,
      );
      // Only carevault's memory is reported; the references' is not what the target is about.
      return of === pid ? figures : { ...figures, rssMb: undefined };
    };
    const bareAuth = basic(bare.clientId, bare.clientSecret);
    const rows: Row[] = [];

    // Refresh first: bare oidc-provider's memory adapter is an LRU of 1,000 entries, and the
    // tokens issued by the other measurements would evict its grants.
    const refresh = (url: string, auth: string, refreshTokens: string[]): LoadSpec => ({
      kind: 'refresh',
      url,
      headers: { authorization: auth, 'content-type': FORM },
      refreshTokens,
      seconds,
    });
    if (wanted('refresh (rotating)')) {
      const bareRefresh = await measure('bare oidc-provider refresh', refresh(`${bareUrl}/token`, bareAuth, bare.refreshTokens), provider.process.pid);
      const dbRefresh = await onPostgres('refresh', (url, auth, ready) => refresh(`${url}/token`, auth, ready.refreshTokens));
      const cvRefresh = await measure('refresh', refresh(`${issuer}/token`, cvAuth, fixture.refreshTokens), pid);
      rows.push(row(database, 'refresh (rotating)', cvRefresh, { name: 'bare oidc-provider', ...bareRefresh }, dbRefresh));
    }

    if (wanted('client_credentials')) {
      const bareCc = await measure(
        'bare oidc-provider client_credentials',
        post(`${bareUrl}/token`, bareAuth, 'grant_type=client_credentials&scope=dopu'),
        provider.process.pid,
      );
      const dbCc = await onPostgres('client_credentials', (url, auth) => post(`${url}/token`, auth, 'grant_type=client_credentials&scope=dopu'));
      const cc = await measure('client_credentials', clientCredentials, pid);
      rows.push(row(database, 'client_credentials', cc, { name: 'bare oidc-provider', ...bareCc }, dbCc));
    }

    if (wanted('introspection')) {
      // Fetched now, for the same reason; and each must really answer `active: true`.
      const bareToken = await appToken(bareUrl, bareAuth);
      await expectActive(`${bareUrl}/token/introspection`, bareAuth, bareToken);
      await expectActive(`${issuer}/introspect`, cvAuth, fixture.appToken);
      const bareIntro = await measure(
        'bare oidc-provider introspection',
        post(`${bareUrl}/token/introspection`, bareAuth, `token=${bareToken}`),
        provider.process.pid,
      );
      const dbIntro = await onPostgres('introspection', async (url, auth) => {
        const token = await appToken(url, auth);
        await expectActive(`${url}/token/introspection`, auth, token);
        return post(`${url}/token/introspection`, auth, `token=${token}`);
      });
      const intro = await measure('introspection', introspection, pid);
      rows.push(row(database, 'introspection', intro, { name: 'bare oidc-provider', ...bareIntro }, dbIntro));
    }

    const minimalRead = !['FHIR read', 'FHIR search (20)', 'FHIR create'].some(wanted)
      ? undefined
      : await measure('minimal handler read', read(`http://127.0.0.1:${minimal.port}`), handler.process.pid);
    const reference = minimalRead && { name: 'minimal handler', ...minimalRead };
    if (reference && wanted('FHIR read')) rows.push(row(database, 'FHIR read', await measure('FHIR read', read(issuer), pid), reference));
    if (reference && wanted('FHIR search (20)')) rows.push(row(database, 'FHIR search (20)', await measure('FHIR search', search, pid), reference));
    const create: LoadSpec = {
      kind: 'request',
      url: `${issuer}/fhir/Observation`,
      method: 'POST',
      headers: { ...bearer, 'content-type': 'application/fhir+json' },
      body: OBSERVATION,
      connections,
      seconds,
    };
    let notificationLag: NotificationLag | null = null;
    if (reference && wanted('FHIR create')) {
      // Every create is a change the first person's app is notified of: the lag is measured under this load.
      const subscription = await subscribe(issuer, fixture.accessToken);
      try {
        const before = await subscription.observations();
        rows.push(row(database, 'FHIR create', await measure('FHIR create', create, pid), reference));
        const endedAt = Date.now();
        const expected = (await subscription.observations()) - before;
        notificationLag = await subscription.lag(expected, endedAt, 120);
        log(
          `${database}: notification lag: ${notificationLag.events} of ${expected} events, p50 ${notificationLag.p50Ms} ms, p99 ${notificationLag.p99Ms} ms, ` +
            `${notificationLag.drainedInSeconds === null ? 'not drained in 120 s' : `drained ${notificationLag.drainedInSeconds.toFixed(1)} s after the load`}`,
        );
      } finally {
        await subscription.close();
      }
    }

    const flow: LoadSpec = {
      kind: 'flow',
      issuer,
      clientId: fixture.clientId,
      clientSecret: fixture.clientSecret,
      redirectUri: REDIRECT_URI,
      scope: SCOPE,
      people: fixture.people,
      concurrency: options.flows,
      seconds,
    };
    if (wanted('sign-in → consent → code')) rows.push(row(database, 'sign-in → consent → code', await measure('sign-in → consent → code', flow, pid), null));

    const rssMaxMb = Math.max(0, ...rows.map((r) => r.carevault.rssMb ?? 0));
    const p99Growth = rows.flatMap((r) => {
      const empty = emptyP99.get(r.path);
      return empty === undefined ? [] : [growth(r.path, empty, r.carevault.p99)];
    });
    return {
      database,
      rssMaxMb,
      rssTargetMb: RSS_TARGET_MB[database],
      rssMet: rssMaxMb <= RSS_TARGET_MB[database],
      rows,
      p99Growth,
      notificationLag,
      databaseReferenceSkipped,
    };
  } finally {
    for (const child of children.reverse()) await child.stop();
    await scratch?.drop().catch(() => undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * carevault's front layers on their own: a trivial answer behind none of them (a bare Node HTTP
 * server), behind each alone and behind all of them, each set in its own process measured in turn.
 */
async function benchFront(options: BenchOptions, log: (line: string) => void): Promise<FrontReport> {
  const sets: FrontLayer[][] = [[], ...FRONT_LAYERS.map((layer) => [layer]), [...FRONT_LAYERS]];
  const measured: FrontReport['sets'] = [];
  for (const layers of sets) {
    const child = startChild(path.join(__dirname, 'reference-front.js'), [layers.join(',')]);
    try {
      const { port } = JSON.parse(await child.firstLine) as ReferenceFrontReady;
      const spec: LoadSpec = {
        kind: 'request',
        url: `http://127.0.0.1:${port}${FRONT_PATH}`,
        method: 'GET',
        headers: {},
        connections: options.connections,
        seconds: options.seconds,
      };
      const figures = await runLoad(spec, child.process.pid);
      const name = layers.length === 0 ? 'bare Node HTTP server' : layers.join(' + ');
      log(`front: ${name}: ${figures.perSecond.toFixed(0)} /s, ${figures.errors} errors, ${figures.cpuMsPerRequest.toFixed(3)} CPU ms/request`);
      measured.push({ layers, perSecond: figures.perSecond, errors: figures.errors, cpuMsPerRequest: figures.cpuMsPerRequest });
    } finally {
      await child.stop();
    }
  }
  return { path: FRONT_PATH, sets: measured };
}

async function main(): Promise<void> {
  const options = readOptions(process.argv.slice(2), process.env);
  if (options === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const started = Date.now();
  const log = (line: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}\n`);
  const report: BenchReport = {
    startedAt: new Date(started).toISOString(),
    seconds: 0,
    machine: { cpus: os.cpus().length, loadAverage: os.loadavg(), node: process.version },
    options: { seconds: options.seconds, connections: options.connections, chains: options.chains, flows: options.flows, bulk: options.bulk },
    databases: [],
  };
  for (const database of options.databases) report.databases.push(await benchDatabase(database, options, log));
  if (!options.paths || options.paths.includes(FRONT_ROW)) report.front = await benchFront(options, log);
  report.seconds = Math.round((Date.now() - started) / 1000);
  const document = JSON.stringify(report, null, 2);
  if (options.jsonFile) fs.writeFileSync(options.jsonFile, `${document}\n`);
  process.stdout.write(`${table(report)}\n\n${document}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
