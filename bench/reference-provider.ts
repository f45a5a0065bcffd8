/**
 * Reference (a): bare oidc-provider 9 as its README configures it — opaque tokens, the signing
 * algorithms carevault uses (RS256 and ES256, from src/oidc/protocol.ts), client credentials,
 * introspection, refresh rotation — and nothing of carevault's. Without a connection argument it
 * keeps everything in its built-in memory adapter: the ceiling for the token endpoint on this
 * machine. Given a postgres:// connection (and a pool size) it keeps clients in memory and every
 * token and grant in one table of that database, one statement per adapter call (bench/store.ts):
 * what the database alone costs, so that carevault's ratio against both tells the database's
 * share of the gap from carevault's own.
 * It seeds one refresh chain per requested grant, prints one JSON line (port, client, tokens), and
 * serves until killed.
 */
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';
import { Pool } from 'pg';
import { SIGNING_ALGS } from '../src/oidc/protocol';
import { createReferenceTable, referenceAdapter } from './store';

export type ReferenceProviderReady = {
  port: number;
  clientId: string;
  clientSecret: string;
  refreshTokens: string[];
};

const CLIENT_ID = 'bench-reference';
const CLIENT_SECRET = 'bench-reference-secret-0123456789abcdef';

async function main(): Promise<void> {
  const [chainsArg = '20', connection, poolMax = '10'] = process.argv.slice(2);
  const chains = Number(chainsArg);
  const pool = connection ? new Pool({ connectionString: connection, max: Number(poolMax) }) : undefined;
  if (pool) await createReferenceTable(pool);
  const keys: JWK[] = [];
  for (const alg of SIGNING_ALGS) {
    const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
    keys.push({ ...(await exportJWK(privateKey)), kid: `reference-${alg}`, alg, use: 'sig' });
  }
  const provider = new Provider('http://localhost', {
    ...(pool ? { adapter: referenceAdapter(pool) } : {}),
    jwks: { keys },
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        redirect_uris: ['https://bench.example/callback'],
        scope: 'openid offline_access dopu',
      },
    ],
    scopes: ['openid', 'offline_access', 'dopu'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
    },
    rotateRefreshToken: true,
    enabledJWA: { idTokenSigningAlgValues: [...SIGNING_ALGS] },
    async findAccount(_ctx, sub) {
      return { accountId: sub, claims: async () => ({ sub }) };
    },
  });

  const client = await provider.Client.find(CLIENT_ID);
  if (!client) throw new Error('reference client missing');
  const refreshTokens: string[] = [];
  for (let i = 0; i < chains; i += 1) {
    const accountId = `person-${i}`;
    const grant = new provider.Grant({ accountId, clientId: CLIENT_ID });
    grant.addOIDCScope('openid offline_access');
    const grantId = await grant.save();
    const token = new provider.RefreshToken({ accountId, client, grantId, scope: 'openid offline_access', gty: 'authorization_code' });
    refreshTokens.push(await token.save());
  }

  const handle = provider.callback();
  // Koa's handler answers its own errors and settles only when the response is done: nothing to await.
  const server = createServer((req, res) => void handle(req, res)).listen(0, '127.0.0.1');
  server.once('listening', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const ready: ReferenceProviderReady = { port, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, refreshTokens };
    process.stdout.write(`${JSON.stringify(ready)}\n`);
  });
  process.once('SIGTERM', () => server.close(() => void (pool?.end() ?? Promise.resolve()).then(() => process.exit(0))));
}

main().catch((error: unknown) => {
  process.stderr.write(`reference provider failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
