/**
 * The real `carevault` command (bin/carevault.js over the build), in child processes: migrate,
 * apps create (file and stdin, refusals naming the field, secrets stored hashed), keys rotate,
 * the CLI beside a running server that owns the same data directory, and a bad setting at start.
 * Runs on the embedded database, or on fresh PostgreSQL databases when DATABASE_URL is set.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { openDatabase } from '../../src/db';
import { CALLBACK, WEIGHT_TRACKER } from '../support/app';
import { freePort } from '../support/scratch';
import { startTestServer, type TestServer } from '../support/server';

const ROOT = path.resolve(__dirname, '..', '..');
const BASE_DATABASE_URL = process.env.DATABASE_URL || undefined;
/** What oidc-provider prints at import on Node 20 (see STACK-NOTES.md); not carevault's output. */
const RUNTIME_WARNING = /^oidc-provider WARNING: Unsupported runtime/;

const PUBLIC_APP = {
  client_name: 'Pocket Diary',
  redirect_uris: ['https://diary.example/callback', 'http://127.0.0.1:8080/callback'],
  token_endpoint_auth_method: 'none',
  rules: [{ scope: 'patient/Observation.rs', required: true, reason: 'Show your readings' }],
};

type Target = { dir: string; databaseUrl: string | undefined; drop(): Promise<void> };
type Run = { code: number | null; stdout: string; stderr: string };

const targets: Target[] = [];

/** An empty data directory and, with DATABASE_URL, an empty database of its own. */
async function newTarget(): Promise<Target> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cv-cli-'));
  let databaseUrl: string | undefined;
  let dropDatabase = async () => {};
  if (BASE_DATABASE_URL) {
    const name = `carevault_cli_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
    const admin = knexFactory({ client: 'pg', connection: BASE_DATABASE_URL, pool: { min: 0, max: 1 } });
    await admin.raw(`create database ${name}`);
    const url = new URL(BASE_DATABASE_URL);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    dropDatabase = async () => {
      await admin.raw(`drop database if exists ${name} with (force)`);
      await admin.destroy();
    };
  }
  const target = {
    dir,
    databaseUrl,
    async drop() {
      await dropDatabase();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  targets.push(target);
  return target;
}

function childEnv(target: { dir: string; databaseUrl: string | undefined }, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, NODE_OPTIONS: '', DATA_DIR: target.dir, DATABASE_URL: target.databaseUrl ?? '', LOG_LEVEL: 'warn', ...extra };
}

function run(command: string[], env: NodeJS.ProcessEnv, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, command, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

function cli(target: { dir: string; databaseUrl: string | undefined }, args: string[], input?: string): Promise<Run> {
  return run(['bin/carevault.js', ...args], childEnv(target), input);
}

/** carevault's own stderr lines (without the Node 20 runtime warning of oidc-provider). */
function ownLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.trim() !== '' && !RUNTIME_WARNING.test(line));
}

function writeDocument(target: Target, name: string, document: unknown): string {
  const file = path.join(target.dir, `${name}.json`);
  fs.writeFileSync(file, typeof document === 'string' ? document : JSON.stringify(document));
  return file;
}

/** Opens the target's database in this process (only while no other process owns it). */
async function withDb<T>(target: Target, fn: (knex: Knex) => Promise<T>): Promise<T> {
  const db = await openDatabase({ databaseUrl: target.databaseUrl, dataDir: target.dir, dbPoolMax: 2 });
  try {
    return await fn(db.knex);
  } finally {
    await db.close();
  }
}

function expectOk(result: Run): void {
  if (result.code !== 0) throw new Error(`exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

function parseOutput(result: Run): Record<string, unknown> {
  expectOk(result);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

beforeAll(async () => {
  await new Promise<void>((resolve, reject) => {
    execFile('npm', ['run', 'build'], { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: '' } }, (error, stdout, stderr) => {
      if (error) reject(new Error(`npm run build failed:\n${stdout}\n${stderr}`));
      else resolve();
    });
  });
}, 180_000);

afterAll(async () => {
  for (const target of targets) await target.drop().catch(() => undefined);
});

/** One data directory (and database) for the commands run one after another below. */
let target: Target;

describe('carevault migrate', () => {
  test('migrates an empty database, then says it is up to date', async () => {
    target = await newTarget();
    const first = await cli(target, ['migrate']);
    expectOk(first);
    expect(first.stdout).toMatch(/^applied \S+/);
    expect(first.stdout).toContain('20261128_001_foundation');
    expect(ownLines(first.stderr)).toEqual([]);

    const second = await cli(target, ['migrate']);
    expectOk(second);
    expect(second.stdout).toMatch(/up to date/);
    expect(second.stdout).not.toMatch(/applied/);

    const tables = await withDb(target, async (knex) => {
      const rows = (await knex('information_schema.tables').where({ table_schema: 'public' }).select('table_name')) as { table_name: string }[];
      return rows.map((row) => row.table_name);
    });
    expect(tables).toEqual(expect.arrayContaining(['oidc_models', 'signing_keys', 'people', 'records', 'resources', 'rate_limits']));
  }, 90_000);
});

describe('carevault apps create and keys rotate (on the database migrated above)', () => {
  test('--file prints the client with client_id and a 256-bit URL-safe client_secret; the secret is stored hashed', async () => {
    const registered = parseOutput(await cli(target, ['apps', 'create', '--file', writeDocument(target, 'weight', WEIGHT_TRACKER)]));
    expect(registered.client_id).toEqual(expect.stringMatching(/^[A-Za-z0-9_-]+$/));
    expect(registered.client_secret).toEqual(expect.stringMatching(/^[A-Za-z0-9_-]{43,}$/));
    expect(registered).toMatchObject({
      client_name: 'Weight Tracker',
      redirect_uris: [CALLBACK],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    const secret = registered.client_secret as string;

    const row = await withDb(target, (knex) =>
      knex('oidc_models')
        .where({ model: 'Client', id: registered.client_id as string })
        .first(),
    );
    expect(row).toBeDefined();
    const payload = (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as Record<string, unknown>;
    expect(payload.client_id).toBe(registered.client_id);
    expect(typeof payload.client_secret).toBe('string');
    expect(payload.client_secret).not.toBe(secret);
    expect(JSON.stringify(row)).not.toContain(secret);
  }, 90_000);

  test('a public app (token_endpoint_auth_method none) gets no client_secret', async () => {
    const registered = parseOutput(await cli(target, ['apps', 'create', '--file', writeDocument(target, 'public', PUBLIC_APP)]));
    expect(registered.client_id).toEqual(expect.any(String));
    expect(registered.token_endpoint_auth_method).toBe('none');
    expect(registered).not.toHaveProperty('client_secret');
  }, 60_000);

  test('the same document on stdin works', async () => {
    const registered = parseOutput(await cli(target, ['apps', 'create'], JSON.stringify({ ...WEIGHT_TRACKER, client_name: 'From Stdin' })));
    expect(registered.client_name).toBe('From Stdin');
    expect(registered.client_id).toEqual(expect.any(String));
    expect(registered.client_secret).toEqual(expect.stringMatching(/^[A-Za-z0-9_-]{43,}$/));
  }, 60_000);

  test.each([
    ['rules[0].scope', { ...WEIGHT_TRACKER, rules: [{ scope: 'patient/Foo.rs', required: true, reason: 'Chart your weight' }] }],
    ['rules[1].reason', { ...WEIGHT_TRACKER, rules: [WEIGHT_TRACKER.rules[0], { scope: 'patient/Condition.rs', required: false, reason: '' }] }],
    ['redirect_uris[0]', { ...WEIGHT_TRACKER, redirect_uris: ['http://weight.example/callback'] }],
    ['client_name', { ...WEIGHT_TRACKER, client_name: undefined }],
    ['token_endpoint_auth_method', { ...WEIGHT_TRACKER, token_endpoint_auth_method: 'client_secret_jwt' }],
    ['capabilities', { ...WEIGHT_TRACKER, token_endpoint_auth_method: 'none', capabilities: ['dopu'] }],
  ])(
    'a document with a bad %s is refused with exit code 1, naming the field',
    async (field, document) => {
      const result = await cli(target, ['apps', 'create', '--file', writeDocument(target, 'bad', document)]);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      const lines = ownLines(result.stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(field);
      expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    },
    60_000,
  );

  test('a document that is not JSON is refused with exit code 1', async () => {
    const result = await cli(target, ['apps', 'create'], '{"client_name": ');
    expect(result.code).toBe(1);
    expect(ownLines(result.stderr).join('\n')).toMatch(/not valid JSON/);
  }, 60_000);

  test('refused documents stored nothing; every stored app has its own client_id', async () => {
    const clients = (await withDb(target, (knex) => knex('oidc_models').where({ model: 'Client' }).select('id'))) as { id: string }[];
    // Weight Tracker from a file, Pocket Diary, and the one from stdin.
    expect(clients).toHaveLength(3);
    expect(new Set(clients.map((row) => row.id)).size).toBe(3);
  }, 60_000);

  test('keys rotate prints the new kids and the signing_keys table gains them', async () => {
    // Registering apps needs no signing keys: the first rotation makes the first ones, then rotates them.
    expect(await withDb(target, (knex) => knex('signing_keys').select('kid'))).toEqual([]);
    parseOutput(await cli(target, ['keys', 'rotate']));
    const before = (await withDb(target, (knex) => knex('signing_keys').select('kid'))) as { kid: string }[];
    expect(before.length).toBe(4);

    const output = parseOutput(await cli(target, ['keys', 'rotate']));
    const keys = output.keys as { kid: string; alg: string }[];
    expect(keys.map((key) => key.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(Number.isNaN(Date.parse(String(output.active_from)))).toBe(false);

    const after = (await withDb(target, (knex) => knex('signing_keys').select('kid'))) as { kid: string }[];
    expect(after.length).toBe(before.length + 2);
    const kids = after.map((row) => row.kid);
    for (const key of keys) {
      expect(kids).toContain(key.kid);
      expect(before.map((row) => row.kid)).not.toContain(key.kid);
    }

    const again = parseOutput(await cli(target, ['keys', 'rotate']));
    const newer = (again.keys as { kid: string }[]).map((key) => key.kid);
    expect(newer).not.toEqual(expect.arrayContaining(keys.map((key) => key.kid)));
    const finally_ = (await withDb(target, (knex) => knex('signing_keys').select('kid'))) as { kid: string }[];
    expect(finally_.length).toBe(before.length + 4);
  }, 90_000);

  test('the documented registration document example registers as it is', async () => {
    const designExample = { ...WEIGHT_TRACKER, redirect_uris: [CALLBACK], capabilities: ['dopu', 'connect', 'direct'] };
    const result = await cli(target, ['apps', 'create', '--file', writeDocument(target, 'design', designExample)]);
    const registered = parseOutput(result);
    expect(registered.client_secret).toEqual(expect.stringMatching(/^[A-Za-z0-9_-]{43,}$/));
    expect(registered.capabilities).toEqual(['dopu', 'connect', 'direct']);
  }, 60_000);
});

describe('the CLI beside a running server on the same data directory', () => {
  let dir: string;
  let server: TestServer;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cv-cli-live-'));
    server = await startTestServer({ DATA_DIR: dir });
  }, 90_000);

  afterAll(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // The database the server uses: its embedded one in `dir`, or its own PostgreSQL database.
  const live = () => ({ dir, databaseUrl: server.config.databaseUrl });

  async function authorize(clientId: string): Promise<{ status: number; location: string | null; text: string }> {
    const url = new URL(`${server.issuer}/authorize`);
    url.search = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: CALLBACK,
      scope: 'openid patient/Observation.rs',
      state: 'state-live',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    }).toString();
    const res = await fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
    return { status: res.status, location: res.headers.get('location'), text: await res.text() };
  }

  test('apps create registers a client the running server finds', async () => {
    const unknown = await authorize('not-registered-yet');
    expect(unknown.status).toBe(400);
    expect(unknown.location).toBeNull();

    const result = await run(['bin/carevault.js', 'apps', 'create'], childEnv(live()), JSON.stringify(WEIGHT_TRACKER));
    const registered = parseOutput(result);
    const clientId = registered.client_id as string;

    const res = await authorize(clientId);
    expect(res.status).toBeGreaterThanOrEqual(300);
    expect(res.status).toBeLessThan(400);
    expect(res.location).toMatch(/^(https?:\/\/[^/]+)?\/interaction\//);

    // The printed secret authenticates at the token endpoint (a bogus code then is invalid_grant,
    // not invalid_client); a wrong secret does not.
    const token = async (secret: string) => {
      const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64');
      const response = await fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: 'bogus', redirect_uri: CALLBACK, code_verifier: 'a'.repeat(43) }).toString(),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    expect((await token(registered.client_secret as string)).body.error).toBe('invalid_grant');
    const wrong = await token('x'.repeat(43));
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
  }, 90_000);

  test('migrate and keys rotate work while the server runs, and the server keeps serving', async () => {
    const migrated = await run(['bin/carevault.js', 'migrate'], childEnv(live()));
    expectOk(migrated);
    expect(migrated.stdout).toMatch(/up to date/);

    const rotated = parseOutput(await run(['bin/carevault.js', 'keys', 'rotate'], childEnv(live())));
    const kids = (rotated.keys as { kid: string }[]).map((key) => key.kid);
    const rows = (await server.db.knex('signing_keys').whereIn('kid', kids).select('kid')) as { kid: string }[];
    expect(rows.map((row) => row.kid).sort()).toEqual([...kids].sort());

    const health = await fetch(`${server.issuer}/healthz`);
    expect(health.status).toBe(200);
    const discovery = await fetch(`${server.issuer}/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
  }, 90_000);
});

describe('a bad setting at start', () => {
  test('PORT=abc makes the server exit non-zero with one line naming PORT', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cv-cli-port-'));
    try {
      const result = await run(['dist/src/server.js'], { ...childEnv({ dir, databaseUrl: undefined }), PORT: 'abc' });
      expect(result.code).not.toBe(0);
      expect(result.code).not.toBeNull();
      // Settings are checked before anything else loads, so that line is all there is.
      const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^carevault: setting PORT is invalid/);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('the server process (npm start runs node dist/src/server.js)', () => {
  test('serves discovery, stops cleanly on SIGTERM, and finds its data again on the next start', async () => {
    const dir = await newTarget();
    const port = await freePort();
    const env = childEnv(dir, { PORT: String(port) });
    const start = async () => {
      const child = spawn(process.execPath, ['dist/src/server.js'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      let gone = false;
      const exited = new Promise<number | null>((resolve) =>
        child.once('exit', (code) => {
          gone = true;
          resolve(code);
        }),
      );
      // Up to a minute: a first start migrates a fresh embedded database, slow on a loaded machine.
      for (let i = 0; i < 300 && !gone; i += 1) {
        const res = await fetch(`http://localhost:${port}/.well-known/openid-configuration`).catch(() => undefined);
        if (res?.ok) return { child, exited, discovery: (await res.json()) as Record<string, unknown> };
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      child.kill('SIGKILL');
      throw new Error(`the server did not answer: ${stderr}`);
    };

    const first = await start();
    expect(first.discovery.issuer).toBe(`http://localhost:${port}`);
    expect(first.discovery.code_challenge_methods_supported).toEqual(['S256']);
    const registered = parseOutput(await cli(dir, ['apps', 'create'], JSON.stringify(WEIGHT_TRACKER)));
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    if (!dir.databaseUrl) expect(fs.existsSync(path.join(dir.dir, 'carevault.pid'))).toBe(false);

    const second = await start();
    const authorize = await fetch(
      `http://localhost:${port}/authorize?client_id=${String(registered.client_id)}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(CALLBACK)}&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`,
      { redirect: 'manual' },
    );
    expect(authorize.headers.get('location')).toMatch(/^\/interaction\//);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 180_000);
});
