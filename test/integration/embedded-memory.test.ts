/**
 * The embedded database's memory on a first start: creating a data directory (initdb, which runs a
 * second PGlite and initdb's own WebAssembly) leaves more than 100 MB resident in the process that
 * did it, so a server starting on a new directory must not do it in its own process: it is to hold
 * no more than the same server started again on the directory it made. Read from /proc (Linux);
 * elsewhere the test says so and checks nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { newServerTarget, type ServerTarget } from '../support/process';

/** Two starts of one server differ by about 30 MB here; creating the directory in its own process added 150 MB or more. */
const MARGIN_MB = 60;

let target: ServerTarget;

afterAll(async () => {
  await target?.remove();
});

function residentMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) / 1024;
}

test('a server starting on a new embedded data directory does not keep the memory its creation took', async () => {
  if (!fs.existsSync('/proc/self/status')) {
    process.stdout.write('embedded-memory: no /proc here, nothing measured\n');
    return;
  }
  target = await newServerTarget();
  // The embedded database even when the suite runs on PostgreSQL.
  const env = { DATABASE_URL: '' };
  const first = await target.start(env);
  expect(fs.existsSync(path.join(target.dataDir, 'pgdata', 'PG_VERSION'))).toBe(true);
  const firstMb = residentMb(first.child.pid ?? 0);
  // /healthz answers a moment before the signal handlers are in place: stop it once it says it serves.
  while (!first.stderr().includes('carevault is serving')) await sleep(50);
  first.child.kill('SIGTERM');
  expect((await first.exited).code).toBe(0);
  const again = await target.start(env);
  const againMb = residentMb(again.child.pid ?? 0);
  process.stdout.write(`embedded-memory: ${firstMb.toFixed(0)} MB resident once serving on a new directory, ${againMb.toFixed(0)} MB started again on it\n`);
  expect(firstMb).toBeLessThan(againMb + MARGIN_MB);
}, 120_000);
