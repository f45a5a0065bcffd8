/**
 * `npm run bench`: throughput of carevault's hot paths, each as a ratio to a baseline measured in
 * the same run (GET /healthz, one database round trip), because these machines are shared and
 * noisy. Runs on the embedded database, or on DATABASE_URL's server when set.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { startCarevault } from '../src/carevault';
import { loadConfig } from '../src/config';
import { Browser } from '../test/support/browser';
import { freePort } from '../test/support/server';

const DURATION_MS = Number(process.argv[2] ?? 3000);
const CONCURRENCY = 8;

async function measure(name: string, run: () => Promise<void>, concurrency = CONCURRENCY): Promise<{ name: string; perSecond: number }> {
  for (let i = 0; i < 5; i += 1) await run();
  let count = 0;
  const deadline = Date.now() + DURATION_MS;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        await run();
        count += 1;
      }
    }),
  );
  return { name, perSecond: (count * 1000) / (Date.now() - started) };
}

async function main(): Promise<void> {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cv-bench-'));
  const config = loadConfig({ PORT: String(port), ISSUER: `http://localhost:${port}`, DATA_DIR: dataDir, LOG_LEVEL: 'error' });
  const carevault = await startCarevault(config);
  try {
    const issuer = config.issuer;
    const registered = await carevault.registerApp({
      client_name: 'Bench',
      redirect_uris: ['https://bench.example/callback'],
      rules: [
        { scope: 'patient/Observation.cruds', required: true, reason: 'Benchmark' },
        { scope: 'offline_access', required: true, reason: 'Benchmark' },
      ],
    });
    const app = await oidc.discovery(new URL(issuer), String(registered.client_id), undefined, oidc.ClientSecretBasic(String(registered.client_secret)), {
      execute: [oidc.allowInsecureRequests],
    });
    const browser = new Browser(issuer);
    let page = await browser.visit('/register');
    page = await browser.submit(page, { name: 'Bench Person', email: 'bench@example.org', password: 'bench password 123' });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(app, {
      redirect_uri: 'https://bench.example/callback',
      scope: 'openid patient/Observation.cruds offline_access',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    page = await browser.visit(url.toString());
    page = await browser.submit(page, { decision: 'allow' }, '/consent');
    let tokens: oidc.TokenEndpointResponse = await oidc.authorizationCodeGrant(app, new URL(page.location ?? ''), { pkceCodeVerifier: verifier });
    const headers = { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/fhir+json' };
    const observation = JSON.stringify({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
      effectiveDateTime: '2026-01-01T08:00:00Z',
      valueQuantity: { value: 72, unit: 'kg' },
    });
    const created = (await (await fetch(`${issuer}/fhir/Observation`, { method: 'POST', headers, body: observation })).json()) as { id: string };
    for (let i = 0; i < 40; i += 1) await fetch(`${issuer}/fhir/Observation`, { method: 'POST', headers, body: observation });

    const ok = async (res: Response) => {
      if (!res.ok) throw new Error(`${res.url} answered ${res.status}`);
      await res.arrayBuffer();
    };
    const results = [
      await measure('baseline GET /healthz', async () => ok(await fetch(`${issuer}/healthz`))),
      await measure('discovery', async () => ok(await fetch(`${issuer}/.well-known/openid-configuration`))),
      await measure('FHIR read', async () => ok(await fetch(`${issuer}/fhir/Observation/${created.id}`, { headers }))),
      await measure('FHIR search (20 of 41)', async () => ok(await fetch(`${issuer}/fhir/Observation?code=29463-7`, { headers }))),
      await measure('FHIR create', async () => ok(await fetch(`${issuer}/fhir/Observation`, { method: 'POST', headers, body: observation }))),
      await measure(
        'refresh (rotating, sequential)',
        async () => {
          tokens = await oidc.refreshTokenGrant(app, tokens.refresh_token ?? '');
        },
        1,
      ),
    ];
    const [baseline] = results;
    process.stdout.write(`carevault bench on the ${carevault.db.kind} database, ${DURATION_MS} ms per case, ${CONCURRENCY} concurrent\n`);
    for (const result of results) {
      const ratio = baseline ? result.perSecond / baseline.perSecond : 1;
      process.stdout.write(`${result.name.padEnd(34)} ${result.perSecond.toFixed(0).padStart(7)} /s   ${ratio.toFixed(2)} × baseline\n`);
    }
  } finally {
    await carevault.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
