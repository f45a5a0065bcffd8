/**
 * carevault as a separate process (`node dist/src/server.js`, built by `npm install`/`npm run
 * build`), for tests that send it signals or kill it: on a fresh embedded database in a temporary
 * directory, or on a fresh database of the PostgreSQL server in DATABASE_URL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { appFromRegistration, type TestApp } from './app';
import { createPostgresDatabase, freePort } from './scratch';

const ROOT = path.resolve(__dirname, '../..');
const ENTRY = path.join(ROOT, 'dist/src/server.js');

export type ServerProcess = {
  issuer: string;
  child: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};

export type ServerTarget = {
  dataDir: string;
  databaseUrl: string;
  port: number;
  /** Starts carevault on this target (again, after a kill) and waits until it serves. */
  start(env?: Record<string, string>): Promise<ServerProcess>;
  remove(): Promise<void>;
};

export async function newServerTarget(): Promise<ServerTarget> {
  if (!fs.existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: run npm run build first`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cv-proc-'));
  const base = loadConfig().databaseUrl;
  const database = base ? await createPostgresDatabase(base) : undefined;
  const port = await freePort();
  const running = new Set<ChildProcess>();
  return {
    dataDir,
    databaseUrl: database?.url ?? '',
    port,
    start(env = {}) {
      const child = spawn(process.execPath, [ENTRY], {
        cwd: ROOT,
        env: {
          ...process.env,
          NODE_OPTIONS: '',
          PORT: String(port),
          ISSUER: `http://localhost:${port}`,
          DATA_DIR: dataDir,
          DATABASE_URL: database?.url ?? '',
          LOG_LEVEL: 'info',
          ...env,
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      running.add(child);
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.once('exit', (code, signal) => {
          running.delete(child);
          resolve({ code, signal });
        });
      });
      return new Promise<ServerProcess>((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`carevault did not start in time:\n${stderr}`)), 45_000);
        // Ready when it says so (LOG_LEVEL info) or answers /healthz (any level).
        let probing = false;
        const check = setInterval(() => {
          const ready = () => {
            clearTimeout(deadline);
            clearInterval(check);
            resolve({ issuer: `http://localhost:${port}`, child, stderr: () => stderr, exited });
          };
          if (stderr.includes('carevault is serving')) ready();
          else if (!probing) {
            probing = true;
            fetch(`http://localhost:${port}/healthz`)
              .then(
                (res) => (res.ok ? ready() : undefined),
                () => undefined,
              )
              .finally(() => (probing = false));
          }
        }, 50);
        void exited.then(({ code }) => {
          clearTimeout(deadline);
          clearInterval(check);
          reject(new Error(`carevault exited (${code}) before serving:\n${stderr}`));
        });
      });
    },
    async remove() {
      for (const child of running) child.kill('SIGKILL');
      await database?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Dynamic registration (RFC 7591) of a carevault registration document, as an app would. */
export async function registerAppOver(issuer: string, initialAccessToken: string, document: Record<string, unknown>): Promise<TestApp> {
  const res = await fetch(`${issuer}/oauth/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${initialAccessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(document),
  });
  const registered = (await res.json()) as Record<string, unknown>;
  if (res.status !== 201) throw new Error(`registration failed: ${JSON.stringify(registered)}`);
  return appFromRegistration(issuer, registered);
}
