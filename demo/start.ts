/**
 * `npm run demo`: carevault (on the embedded database under ./data, or DATABASE_URL's server) and a
 * small third-party app, Demo Clinic, each in its own process — the app registered with carevault
 * automatically on first start, through the same `carevault apps create` an operator would run.
 * Open the app's page and click through every HealthVault option.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { demoRegistration } from './registration';

const ROOT = path.resolve(__dirname, '..', '..');
const CAREVAULT_PORT = 3000;
const DEMO_PORT = 3001;
const CAREVAULT = `http://localhost:${CAREVAULT_PORT}`;
const DEMO = `http://localhost:${DEMO_PORT}`;

const DEMO_APP = demoRegistration(DEMO);

const children: ChildProcess[] = [];

function start(name: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('exit', (code) => {
    if (code !== null && code !== 0) process.stderr.write(`demo: ${name} stopped (exit ${code})\n`);
  });
  children.push(child);
  return child;
}

async function ready(url: string): Promise<void> {
  for (let i = 0; i < 300; i += 1) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer within 30 s`);
}

type Registration = { client_id: string; client_secret: string };

/** Whether carevault still knows the app (its data may have been reset since it was registered). */
async function stillRegistered({ client_id, client_secret }: Registration): Promise<boolean> {
  const res = await fetch(`${CAREVAULT}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&scope=dopu',
  });
  return res.ok;
}

/** Demo Clinic's client id and secret: registered once, kept beside carevault's data. */
async function registration(dataDir: string): Promise<Registration> {
  const file = path.join(dataDir, 'demo-clinic.json');
  if (fs.existsSync(file)) {
    const known = JSON.parse(fs.readFileSync(file, 'utf8')) as Registration;
    if (await stillRegistered(known)) return known;
  }
  const output = execFileSync(process.execPath, [path.join(ROOT, 'bin', 'carevault.js'), 'apps', 'create'], {
    cwd: ROOT,
    input: JSON.stringify(DEMO_APP),
    env: { ...process.env, PORT: String(CAREVAULT_PORT) },
  }).toString();
  const registered = JSON.parse(output) as Registration;
  fs.writeFileSync(file, JSON.stringify({ client_id: registered.client_id, client_secret: registered.client_secret }), { mode: 0o600 });
  return registered;
}

async function main(): Promise<void> {
  const dataDir = path.resolve(ROOT, process.env.DATA_DIR ?? 'data');
  start('carevault', ['dist/src/server.js'], { PORT: String(CAREVAULT_PORT), ISSUER: CAREVAULT });
  await ready(`${CAREVAULT}/healthz`);
  const { client_id: clientId, client_secret: clientSecret } = await registration(dataDir);
  start('Demo Clinic', ['dist/demo/app.js', JSON.stringify({ carevault: CAREVAULT, port: DEMO_PORT, clientId, clientSecret })]);
  await ready(`${DEMO}/healthz`);
  process.stdout.write(
    `\ncarevault is at ${CAREVAULT}; Demo Clinic, a third-party app, is at ${DEMO}.\nOpen ${DEMO} and follow the steps. Ctrl-C stops both.\n\n`,
  );
}

function stopAll(): void {
  for (const child of children) child.kill('SIGTERM');
}

process.once('SIGINT', stopAll);
process.once('SIGTERM', stopAll);
main().catch((error: unknown) => {
  process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
  stopAll();
  process.exit(1);
});
