/**
 * Registration fetches nothing internal: `sector_identifier_uri` and `jwks_uri` naming
 * loopback, private or link-local hosts are refused at dynamic registration and in the CLI's path,
 * and nothing connects to them; REGISTRATION_ALLOW_PRIVATE_URIS lets them through (tests, closed
 * networks). Prints its figures.
 */
import net from 'node:net';
import { WEIGHT_TRACKER } from '../support/app';
import { startTestServer, type TestServer } from '../support/server';
import { outgoingFetch } from '../../src/oidc/outgoing';

const TOKEN = 'r'.repeat(40);
let strict: TestServer;
let trap: net.Server;
let trapPort: number;
let connections = 0;

beforeAll(async () => {
  strict = await startTestServer({ REGISTRATION_INITIAL_ACCESS_TOKEN: TOKEN });
  trap = net.createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', () => resolve()));
  trapPort = (trap.address() as net.AddressInfo).port;
});

afterAll(async () => {
  await strict?.stop();
  await new Promise((resolve) => trap?.close(resolve));
});

function register(server: TestServer, document: Record<string, unknown>) {
  return fetch(`${server.issuer}/oauth/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(document),
  });
}

const withKeysAt = (jwksUri: string) => ({ ...WEIGHT_TRACKER, token_endpoint_auth_method: 'private_key_jwt', jwks_uri: jwksUri });
const withSectorAt = (sectorUri: string) => ({
  ...WEIGHT_TRACKER,
  redirect_uris: ['https://a.example/cb', 'https://b.example/cb'],
  sector_identifier_uri: sectorUri,
});

test('internal sector_identifier_uri and jwks_uri are refused, and never contacted', async () => {
  const cases: [string, Record<string, unknown>][] = [
    ['sector 127.0.0.1', withSectorAt(`https://127.0.0.1:${trapPort}/sector`)],
    ['sector localhost', withSectorAt(`https://localhost:${trapPort}/sector`)],
    ['sector [::1]', withSectorAt(`https://[::1]:${trapPort}/sector`)],
    ['sector 10.x', withSectorAt('https://10.1.2.3/sector')],
    ['sector 192.168.x', withSectorAt('https://192.168.0.1/sector')],
    ['sector metadata 169.254.169.254', withSectorAt('https://169.254.169.254/latest/meta-data')],
    ['jwks 127.0.0.1', withKeysAt(`https://127.0.0.1:${trapPort}/jwks`)],
    ['jwks 172.16.x', withKeysAt('https://172.16.5.4/jwks')],
    ['jwks [fe80::1]', withKeysAt('https://[fe80::1]/jwks')],
    ['jwks ::ffff:127.0.0.1', withKeysAt('https://[::ffff:127.0.0.1]/jwks')],
    ['jwks app.localhost', withKeysAt('https://app.localhost/jwks')],
  ];
  const refused: string[] = [];
  for (const [label, document] of cases) {
    const res = await register(strict, document);
    const body = (await res.json()) as { error?: string; error_description?: string };
    if (
      res.status === 400 &&
      body.error === 'invalid_client_metadata' &&
      /(sector_identifier_uri|jwks_uri) must not point at/.test(body.error_description ?? '')
    )
      refused.push(label);
    else console.log(`${label}: ${res.status} ${JSON.stringify(body)}`);
  }
  // The CLI's path refuses too.
  await expect(strict.registerApp(withKeysAt('https://10.0.0.7/jwks'))).rejects.toThrow(/jwks_uri must not point at/);
  // And oidc-provider's fetch, whatever asks it, does not connect.
  await expect(outgoingFetch(false)(`https://127.0.0.1:${trapPort}/x`, {})).rejects.toThrow(/loopback, private or link-local/);
  console.log(`internal fetch URLs at registration: ${cases.length} tried, ${refused.length} refused, connections made ${connections}`);
  expect(refused).toHaveLength(cases.length);
  expect(connections).toBe(0);
  // A public one is still fine.
  expect((await register(strict, withKeysAt('https://keys.example/jwks'))).status).toBe(201);
});

test('REGISTRATION_ALLOW_PRIVATE_URIS lets internal URLs through', async () => {
  const open = await startTestServer({ REGISTRATION_INITIAL_ACCESS_TOKEN: TOKEN, REGISTRATION_ALLOW_PRIVATE_URIS: 'true' });
  try {
    const res = await register(open, withKeysAt(`https://127.0.0.1:${trapPort}/jwks`));
    expect(res.status).toBe(201);
    expect(((await res.json()) as { jwks_uri: string }).jwks_uri).toBe(`https://127.0.0.1:${trapPort}/jwks`);
  } finally {
    await open.stop();
  }
});
