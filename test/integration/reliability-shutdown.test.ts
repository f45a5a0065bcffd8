/**
 * SIGTERM under keep-alive load: carevault stops accepting, answers what arrives on open
 * connections with `Connection: close`, keeps a request whose headers were still arriving at the
 * signal, lets an idle kept-alive connection send one more request, resets nothing, and exits 0
 * within SHUTDOWN_TIMEOUT. Prints its figures.
 */
import http from 'node:http';
import net from 'node:net';
import { newServerTarget, type ServerProcess, type ServerTarget } from '../support/process';

const SHUTDOWN_TIMEOUT = 10;
const WORKERS = 8;

let target: ServerTarget;
let server: ServerProcess;

beforeAll(async () => {
  target = await newServerTarget();
  server = await target.start({ SHUTDOWN_TIMEOUT: String(SHUTDOWN_TIMEOUT) });
}, 60_000);

afterAll(async () => {
  await target?.remove();
});

type Tally = { answered: number; closing: number; refused: number; reset: number; errors: string[] };

function get(agent: http.Agent, path: string): Promise<{ status: number; closing: boolean; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: 'localhost', port: target.port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, closing: res.headers.connection === 'close', reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', (error: NodeJS.ErrnoException) => reject(Object.assign(error, { reused: req.reusedSocket })));
  });
}

/** One keep-alive client: requests back to back until told the connection closes, or refused. */
async function worker(paths: string[], tally: Tally): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; ; i += 1) {
      try {
        const answer = await get(agent, paths[i % paths.length] ?? '/healthz');
        tally.answered += 1;
        if (answer.status >= 500) tally.errors.push(`status ${answer.status}`);
        if (answer.closing) {
          tally.closing += 1;
          return;
        }
      } catch (error) {
        const { code, reused } = error as NodeJS.ErrnoException & { reused?: boolean };
        // A new connection the server no longer accepts is refused, which clients retry elsewhere;
        // a request on a connection the server had accepted must never fail.
        if (!reused && code === 'ECONNREFUSED') tally.refused += 1;
        else {
          tally.reset += 1;
          tally.errors.push(`${code ?? 'error'} (reused: ${String(reused)})`);
        }
        return;
      }
    }
  } finally {
    agent.destroy();
  }
}

/** Sends a request's headers in two parts, the second after the signal; resolves with the answer. */
function halfSentRequest(afterSignal: Promise<void>): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(target.port, 'localhost', () => {
      socket.write(`GET /healthz HTTP/1.1\r\nHost: localhost:${target.port}\r\n`);
      void afterSignal.then(() => setTimeout(() => socket.write('Accept: application/json\r\n\r\n'), 200));
    });
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

/** A kept-alive connection idle at the signal, then used once more. */
async function idleThenUsed(afterSignal: Promise<void>): Promise<{ first: number; second: number; closing: boolean; reused: boolean }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await get(agent, '/healthz');
    await afterSignal;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const second = await get(agent, '/.well-known/openid-configuration');
    return { first: first.status, second: second.status, closing: second.closing, reused: second.reused };
  } finally {
    agent.destroy();
  }
}

test('SIGTERM under keep-alive load: every accepted request answered, none reset, exit 0 in time', async () => {
  const tally: Tally = { answered: 0, closing: 0, refused: 0, reset: 0, errors: [] };
  let signalled!: () => void;
  const afterSignal = new Promise<void>((resolve) => (signalled = resolve));
  const paths = ['/healthz', '/.well-known/openid-configuration', '/fhir/metadata', '/jwks', '/nowhere'];
  const idle = idleThenUsed(afterSignal);
  const halfSent = halfSentRequest(afterSignal);
  const workers = Array.from({ length: WORKERS }, (_, index) => worker(paths.slice(index % paths.length).concat(paths), tally));

  await new Promise((resolve) => setTimeout(resolve, 1500));
  const before = tally.answered;
  const sentAt = Date.now();
  server.child.kill('SIGTERM');
  signalled();

  await Promise.all(workers);
  const idleResult = await idle;
  const halfSentAnswer = await halfSent;
  const { code } = await server.exited;
  const seconds = (Date.now() - sentAt) / 1000;

  console.log(
    `shutdown under load: ${WORKERS} keep-alive clients, ${tally.answered} requests answered (${before} before the signal), ` +
      `${tally.closing} told Connection: close, ${tally.refused} new connections refused, requests reset: ${tally.reset}, ` +
      `exit ${code} after ${seconds.toFixed(2)} s (SHUTDOWN_TIMEOUT ${SHUTDOWN_TIMEOUT})`,
  );
  expect(tally.errors).toEqual([]);
  expect(tally.reset).toBe(0);
  expect(tally.closing).toBe(WORKERS);
  expect(halfSentAnswer).toMatch(/^HTTP\/1\.1 200 /);
  expect(halfSentAnswer.toLowerCase()).toContain('connection: close');
  expect(idleResult).toEqual({ first: 200, second: 200, closing: true, reused: true });
  expect(code).toBe(0);
  expect(seconds).toBeLessThan(SHUTDOWN_TIMEOUT);
  const lines = server
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('{'));
  expect(lines.map((line) => (JSON.parse(line) as { message: string }).message)).toEqual(expect.arrayContaining(['shutting down', 'shut down']));
}, 60_000);
