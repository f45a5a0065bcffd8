/**
 * The bench's processes: carevault (`node dist-bench/src/server.js`, as `npm start` runs it), the
 * two references, and a load generator per measurement — each its own process, so no client shares
 * the event loop of the server it measures. While a load runs, the server's resident memory is
 * sampled from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { LoadSpec, Measurement } from './load';

const HERE = __dirname;
export const SERVER_SCRIPT = path.join(HERE, '..', 'src', 'server.js');

/** The Node options `npm start` gives the server (package.json), so the bench measures the same. */
export const SERVER_NODE_ARGS = ['--max-semi-space-size=4', '--max-old-space-size=512'];

export type Child = { process: ChildProcess; firstLine: Promise<string>; stop(): Promise<void> };

/** Starts `node <script> …args`; `firstLine` is the first JSON line it prints (its readiness; warnings come before). */
export function startChild(script: string, args: string[], env: NodeJS.ProcessEnv = process.env, nodeArgs: string[] = []): Child {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const lines = readline.createInterface({ input: child.stdout! });
  const firstLine = new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.startsWith('{')) resolve(line);
    });
    child.once('exit', (code) => reject(new Error(`${path.basename(script)} exited (${code}) before it was ready: ${stderr.trim()}`)));
  });
  firstLine.catch(() => undefined);
  return {
    process: child,
    firstLine,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}

/** Resident memory of a process in MB (Linux), or 0 where /proc is not there. */
export function residentMb(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time a process has used so far, in ms (user + system; Linux), or 0 where /proc is not there. */
function cpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/**
 * Runs one measurement in a load-generator process. Meanwhile samples `serverPid`'s resident
 * memory, and reports the CPU it spent per successful request: on a shared machine, a figure that
 * depends less on what else runs than requests/s does.
 */
export async function runLoad(spec: LoadSpec, serverPid: number | undefined): Promise<Measurement & { rssMb: number; cpuMsPerRequest: number }> {
  let rssMb = residentMb(serverPid);
  let cpuBefore = cpuMs(serverPid);
  const sampler = setInterval(() => {
    rssMb = Math.max(rssMb, residentMb(serverPid));
  }, 200);
  try {
    const child = startChild(path.join(HERE, 'load.js'), [JSON.stringify(spec)]);
    readline.createInterface({ input: child.process.stdout! }).on('line', (line) => {
      if (line === 'measuring') cpuBefore = cpuMs(serverPid);
    });
    const line = await child.firstLine;
    await new Promise<void>((resolve) => (child.process.exitCode !== null ? resolve() : child.process.once('exit', () => resolve())));
    const measurement = JSON.parse(line) as Measurement;
    const cpuMsPerRequest = measurement.total > 0 ? (cpuMs(serverPid) - cpuBefore) / measurement.total : 0;
    return { ...measurement, rssMb, cpuMsPerRequest };
  } finally {
    clearInterval(sampler);
  }
}

/** Waits until `url` answers 200 (the server is ready), or fails after `timeoutMs`. */
export async function waitReady(url: string, child: Child, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.process.once('exit', () => (exited = true));
  while (Date.now() < deadline && !exited) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await child.firstLine.catch((error: unknown) => {
    throw error;
  });
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}
