/**
 * The embedded PostgreSQL (PGlite) under DATA_DIR. PGlite takes no lock on its files and a second
 * opener sees a stale copy, so exactly one process owns the directory (a pid file says which) and
 * serves it on a unix socket speaking the PostgreSQL wire protocol; every other process — a second
 * server instance, the CLI — connects through that socket with the same `pg` driver.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The socket file name `pg` expects when given a directory as `host`. */
const SOCKET_NAME = '.s.PGSQL.5432';
const PID_NAME = 'carevault.pid';

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

/** Creates the pid file if no live process holds it; returns false when another process does. */
function claimOwnership(pidFile: string): boolean {
  for (;;) {
    try {
      fs.writeFileSync(pidFile, String(process.pid), { flag: 'wx' });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number.parseInt(fs.readFileSync(pidFile, 'utf8'), 10);
      if (Number.isInteger(pid) && pid !== process.pid && processAlive(pid)) return false;
      fs.rmSync(pidFile, { force: true });
    }
  }
}

/**
 * Opens the embedded database in `dataDir`: serves it when no other process does, otherwise
 * returns the socket of the process that serves it.
 */
export async function openEmbeddedDatabase(dataDir: string, maxConnections: number): Promise<EmbeddedDatabase> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const socketPath = path.join(dataDir, SOCKET_NAME);
  const pidFile = path.join(dataDir, PID_NAME);
  const deadline = Date.now() + 30_000;

  for (;;) {
    if (await canConnect(socketPath)) return { socketDir: dataDir, owner: false, close: async () => {} };
    if (claimOwnership(pidFile)) break;
    // Another live process owns the directory and is still starting: wait for its socket.
    if (Date.now() > deadline) {
      throw new Error(`the embedded database in ${dataDir} is held by another process that does not answer`);
    }
    await sleep(200);
  }

  try {
    const { PGlite } = await import('@electric-sql/pglite');
    const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
    const db = await PGlite.create(path.join(dataDir, 'pgdata'));
    fs.rmSync(socketPath, { force: true });
    const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections });
    await server.start();
    return {
      socketDir: dataDir,
      owner: true,
      async close() {
        await server.stop();
        await db.close();
        fs.rmSync(socketPath, { force: true });
        fs.rmSync(pidFile, { force: true });
      },
    };
  } catch (error) {
    fs.rmSync(pidFile, { force: true });
    throw error;
  }
}
