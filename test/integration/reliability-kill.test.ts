/**
 * kill -9 under write load: carevault (a process of its own, on the embedded database
 * or PostgreSQL) is killed with SIGKILL while apps write records, started again on the same data,
 * and every write it had acknowledged (201) is there. Prints its figures.
 */
import http from 'node:http';
import { authorizeInBrowser, exchangeCode, newPerson, startAuthorization } from '../support/app';
import { RECORD_KEEPER, weight } from '../support/authorized';
import { Browser } from '../support/browser';
import { newServerTarget, registerAppOver, type ServerTarget } from '../support/process';

const TOKEN = 'k'.repeat(40);
const WRITERS = 4;
let target: ServerTarget;

beforeAll(async () => {
  target = await newServerTarget();
}, 60_000);

afterAll(async () => {
  await target?.remove();
});

function post(agent: http.Agent, accessToken: string, body: string): Promise<{ status: number; id?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: 'localhost',
        port: target.port,
        method: 'POST',
        path: '/fhir/Observation',
        agent,
        headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, id: res.statusCode === 201 ? (JSON.parse(text) as { id: string }).id : undefined }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('acknowledged writes survive kill -9 and a restart', async () => {
  let server = await target.start({ REGISTRATION_INITIAL_ACCESS_TOKEN: TOKEN, LOG_LEVEL: 'warn' });
  const app = await registerAppOver(server.issuer, TOKEN, RECORD_KEEPER);
  const authorization = await startAuthorization(app, { scope: 'openid patient/Observation.cruds offline_access' });
  const back = await authorizeInBrowser(new Browser(server.issuer), authorization.url, newPerson('Kim Durable'), { register: true });
  const { access_token: accessToken } = await exchangeCode(app, authorization, back.location ?? '');

  const acknowledged: string[] = [];
  let cut = 0;
  const writer = async (n: number) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; ; i += 1) {
        try {
          const answer = await post(agent, accessToken, JSON.stringify(weight(n * 100_000 + i)));
          if (answer.id) acknowledged.push(answer.id);
        } catch {
          cut += 1; // the process is gone: this write was never acknowledged
          return;
        }
      }
    } finally {
      agent.destroy();
    }
  };
  const writers = Array.from({ length: WRITERS }, (_, n) => writer(n));
  while (acknowledged.length < 100) await new Promise((resolve) => setTimeout(resolve, 50));
  server.child.kill('SIGKILL');
  await Promise.all(writers);
  const killed = await server.exited;
  expect(killed.signal).toBe('SIGKILL');

  const restarting = Date.now();
  server = await target.start({ REGISTRATION_INITIAL_ACCESS_TOKEN: TOKEN, LOG_LEVEL: 'warn' });
  const restartMs = Date.now() - restarting;
  const missing: string[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const queue = [...acknowledged];
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let id = queue.pop(); id; id = queue.pop()) {
        const res = await fetch(`${server.issuer}/fhir/Observation/${id}`, { headers: { authorization: `Bearer ${accessToken}` } });
        if (res.status !== 200) missing.push(`${id}: ${res.status}`);
        await res.arrayBuffer();
      }
    }),
  );
  agent.destroy();
  console.log(
    `kill -9 under write load (${target.databaseUrl ? 'postgres' : 'embedded'}): ${WRITERS} writers, acknowledged writes ${acknowledged.length}, ` +
      `writes cut by the kill (never acknowledged) ${cut}, restarted in ${restartMs} ms, writes lost ${missing.length}`,
  );
  expect(missing).toEqual([]);
  server.child.kill('SIGTERM');
  expect((await server.exited).code).toBe(0);
}, 120_000);
