/**
 * The embedded PostgreSQL (PGlite) under DATA_DIR. PGlite takes no lock on its files and a second
 * opener sees a stale copy, so exactly one process owns the directory (a pid file says which) and
 * serves it on a unix socket speaking the PostgreSQL wire protocol, through which the CLI reaches
 * it with the same `pg` driver. A server that finds the CLI holding the directory waits for it to
 * finish. A second server is refused: pglite-socket runs every connection's protocol messages
 * through one session one message at a time, so two busy clients can mix their statements
 * ("portal cannot be run"); several instances need a PostgreSQL server.
 */

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Thrown when another server already serves the directory. */
class EmbeddedDatabaseBusy extends Error {}

/** The socket file name `pg` expects when given a directory as `host`. */
const SOCKET_NAME = '.s.PGSQL.5432';
const PID_NAME = 'carevault.pid';

/** Who opens the directory: a long-running server, or a short command. */
export type EmbeddedRole = 'server' | 'command';

export type EmbeddedDatabase = {
  /** Directory holding the socket; pass it to `pg` as `host`. */
  socketDir: string;
  /** True when this process owns (and must close) the database. */
  owner: boolean;
  close(): Promise<void>;
};

function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

type Owner = { pid: number; role: EmbeddedRole };

/** Data directories this process serves (a second instance in the same process must not reopen them). */
const servedHere = new Set<string>();

function readOwner(pidFile: string): Owner | undefined {
  try {
    const [pid = '', role = 'server'] = fs.readFileSync(pidFile, 'utf8').trim().split(' ');
    const owner = { pid: Number.parseInt(pid, 10), role: role === 'command' ? 'command' : 'server' } as const;
    if (!Number.isInteger(owner.pid)) return undefined;
    if (owner.pid === process.pid) return servedHere.has(pidFile) ? owner : undefined;
    return processAlive(owner.pid) ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** Creates the pid file if no live process holds it; otherwise returns the process that does. */
function claimOwnership(pidFile: string, role: EmbeddedRole): Owner | 'claimed' {
  for (;;) {
    try {
      fs.writeFileSync(pidFile, `${process.pid} ${role}`, { flag: 'wx' });
      return 'claimed';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readOwner(pidFile);
      if (owner) return owner;
      fs.rmSync(pidFile, { force: true });
    }
  }
}

/**
 * Creates a new PostgreSQL data directory (initdb) in a child process that exits. Creating one runs
 * initdb's WebAssembly and a second PGlite beside the one that serves, and what they allocate stays
 * resident in the process after they are gone (about 170 MB: malloc keeps what they free), so the
 * serving process only opens a directory that exists.
 */
function initializeDataDirectory(pgdata: string): Promise<void> {
  const script =
    `require(${JSON.stringify(require.resolve('@electric-sql/pglite'))}).PGlite.create(process.argv[1]).then((db) => db.close()).catch((error) => {` +
    ' process.stderr.write(error instanceof Error ? error.message : JSON.stringify(error)); process.exit(1); })';
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, pgdata], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`initializing the embedded database in ${pgdata} failed (${signal ?? code}): ${stderr.trim()}`)),
    );
  });
}

/**
 * Opens the embedded database in `dataDir`: serves it when no other process does, otherwise
 * returns the socket of the process that serves it.
 */
export async function openEmbeddedDatabase(dataDir: string, maxConnections: number, role: EmbeddedRole): Promise<EmbeddedDatabase> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const socketPath = path.join(dataDir, SOCKET_NAME);
  const pidFile = path.join(dataDir, PID_NAME);
  const deadline = Date.now() + 60_000;

  for (;;) {
    const owner = claimOwnership(pidFile, role);
    if (owner === 'claimed') break;
    if (role === 'server' && owner.role === 'server') {
      throw new EmbeddedDatabaseBusy(
        `the embedded database in ${dataDir} is already served by process ${owner.pid}; to run several instances, use a PostgreSQL server (DATABASE_URL)`,
      );
    }
    if (role === 'command' && (await canConnect(socketPath))) return { socketDir: dataDir, owner: false, close: async () => {} };
    if (Date.now() > deadline) {
      throw new Error(`the embedded database in ${dataDir} is held by process ${owner.pid}, which does not let go; stop it or use another DATA_DIR`);
    }
    await sleep(200);
  }

  try {
    const pgdata = path.join(dataDir, 'pgdata');
    if (!fs.existsSync(path.join(pgdata, 'PG_VERSION'))) await initializeDataDirectory(pgdata);
    const { PGlite } = await import('@electric-sql/pglite');
    const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
    // PGlite's memory is WebAssembly memory in this process, which grows and is never given back:
    // PostgreSQL's default 128 MB of shared buffers fills under load and stays. 32 MB measured the
    // same CPU per request (16 MB cost more).
    const db = await PGlite.create(pgdata, { postgresqlconf: ['shared_buffers=32MB'] });
    fs.rmSync(socketPath, { force: true });
    const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections });
    await server.start();
    servedHere.add(pidFile);
    return {
      socketDir: dataDir,
      owner: true,
      async close() {
        await server.stop();
        await db.close();
        servedHere.delete(pidFile);
        fs.rmSync(socketPath, { force: true });
        fs.rmSync(pidFile, { force: true });
      },
    };
  } catch (error) {
    fs.rmSync(pidFile, { force: true });
    throw error;
  }
}
