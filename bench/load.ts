/**
 * The load generator, run as its own process (`node load.js '<spec as JSON>'`) so the client is
 * never the bottleneck of the server it measures, nor shares its event loop: autocannon for single
 * requests and for refresh chains (each connection rotates its own refresh token), and a few
 * concurrent browsers at the HTTP level for sign-in → consent → code exchange. It prints one JSON
 * line: the measurement.
 */
import { createHash, randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import { Browser } from '../test/support/browser';

export type Measurement = {
  /** Successful (2xx) answers per second. */
  perSecond: number;
  p50: number;
  p99: number;
  /** Answers that were not 2xx, and connection errors or timeouts. */
  errors: number;
  total: number;
};

type RequestSpec = {
  kind: 'request';
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  connections: number;
  seconds: number;
};

/** Each connection holds one chain: it presents its refresh token and keeps the rotated one. */
type RefreshSpec = {
  kind: 'refresh';
  url: string;
  headers: Record<string, string>;
  refreshTokens: string[];
  seconds: number;
};

/** People who sign in, consent and have the app exchange the code, `concurrency` at a time. */
type FlowSpec = {
  kind: 'flow';
  issuer: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  scope: string;
  people: { email: string; password: string }[];
  concurrency: number;
  seconds: number;
};

export type LoadSpec = RequestSpec | RefreshSpec | FlowSpec;

async function cannon(options: autocannon.Options): Promise<Measurement> {
  const result = await autocannon(options);
  const ok = result['2xx'];
  return {
    perSecond: ok / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.non2xx + result.errors + result.timeouts,
    total: result.requests.total,
  };
}

function requestOptions(spec: RequestSpec, seconds: number): autocannon.Options {
  return { url: spec.url, method: spec.method, headers: spec.headers, body: spec.body, connections: spec.connections, duration: seconds };
}

function refreshOptions(spec: RefreshSpec, seconds: number): autocannon.Options {
  // autocannon resets a connection's context after each request, so the chains wait in a queue: a
  // connection takes one, presents its token and puts back the rotated one. With as many
  // connections as chains, each chain has at most one request in flight — it stays a chain.
  const chains = [...spec.refreshTokens];
  type Held = { token?: string };
  const request = {
    method: 'POST' as const,
    headers: spec.headers,
    setupRequest(req: autocannon.Request, context: Held) {
      context.token = chains.shift() ?? spec.refreshTokens[0];
      return { ...req, body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(context.token ?? '')}` };
    },
    onResponse(status: number, body: string, context: Held) {
      const next = status === 200 ? (JSON.parse(body) as { refresh_token?: string }).refresh_token : undefined;
      // A refused token stays in its chain, so the failure is counted again rather than hidden.
      chains.push(next ?? context.token ?? '');
    },
  };
  return { url: spec.url, connections: spec.refreshTokens.length, duration: seconds, requests: [request as unknown as autocannon.Request] };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** One person's whole walk: authorize → sign in → consent → callback → token. */
async function walk(spec: FlowSpec, person: { email: string; password: string }): Promise<void> {
  const browser = new Browser(spec.issuer);
  const verifier = randomBytes(32).toString('base64url');
  const authorize = new URL('/authorize', spec.issuer);
  authorize.search = new URLSearchParams({
    client_id: spec.clientId,
    response_type: 'code',
    redirect_uri: spec.redirectUri,
    scope: spec.scope,
    prompt: 'consent',
    state: randomBytes(8).toString('hex'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  let page = await browser.visit(authorize.toString());
  page = await browser.submit(page, { email: person.email, password: person.password });
  page = await browser.submit(page, { decision: 'allow' });
  const code = page.location ? new URL(page.location).searchParams.get('code') : null;
  if (!code) throw new Error(`no code at the end of the walk (status ${page.status} at ${page.url})`);
  const res = await fetch(new URL('/token', spec.issuer), {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${spec.clientId}:${spec.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: spec.redirectUri, code_verifier: verifier }).toString(),
  });
  if (res.status !== 200) throw new Error(`code exchange answered ${res.status}`);
  await res.arrayBuffer();
}

async function flows(spec: FlowSpec, seconds: number): Promise<Measurement> {
  const latencies: number[] = [];
  let errors = 0;
  let turn = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: spec.concurrency }, async () => {
      while (performance.now() < deadline) {
        const person = spec.people[turn++ % spec.people.length];
        if (!person) return;
        const begin = performance.now();
        try {
          await walk(spec, person);
          latencies.push(performance.now() - begin);
        } catch (error) {
          errors += 1;
          if (errors === 1) process.stderr.write(`flow: ${error instanceof Error ? error.message : String(error)}\n`);
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors, total: latencies.length + errors };
}

/** A short warm-up (JIT, pools, caches), then the measurement. */
async function measure(spec: LoadSpec): Promise<Measurement> {
  // Long enough for the JIT: a cold first second costs twice the CPU per request of a warm one.
  const warmup = Math.min(2, Math.max(0.5, spec.seconds / 2));
  const run = (seconds: number) => {
    if (spec.kind === 'flow') return flows(spec, seconds);
    return cannon(spec.kind === 'refresh' ? refreshOptions(spec, seconds) : requestOptions(spec, seconds));
  };
  // A refresh chain's warm-up must not leave it holding a token the measurement no longer has.
  if (spec.kind !== 'refresh') await run(warmup);
  // The parent starts counting the server's CPU time here.
  process.stdout.write('measuring\n');
  return run(spec.seconds);
}

if (require.main === module) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
  measure(spec).then(
    (measurement) => process.stdout.write(`${JSON.stringify(measurement)}\n`),
    (error: unknown) => {
      process.stderr.write(`load failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
