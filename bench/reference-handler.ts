/**
 * Reference (b): the least any resource server over the same database must do for a FHIR read —
 * express, one token lookup, one indexed query — with the same pool size carevault uses (one
 * connection on the embedded database, reached through its socket). carevault's FHIR read and
 * search are measured against it in the same run. Prints one JSON line (port), serves
 * until killed.
 */
import express from 'express';
import { Pool } from 'pg';
import { recordOfToken, resourceOf } from './store';

export type ReferenceHandlerReady = { port: number };

function main(): void {
  const [connection = '', poolMax = '10'] = process.argv.slice(2);
  const pool = connection.startsWith('postgres')
    ? new Pool({ connectionString: connection, max: Number(poolMax) })
    : new Pool({ host: connection, user: 'postgres', database: 'postgres', max: Number(poolMax) });
  const app = express();
  app.get('/fhir/:type/:id', async (req, res) => {
    const token = /^Bearer (\S+)$/.exec(req.get('authorization') ?? '')?.[1];
    const recordId = token ? await recordOfToken(pool, token) : undefined;
    if (!recordId) {
      res.status(401).end();
      return;
    }
    const content = await resourceOf(pool, recordId, req.params.type, req.params.id);
    if (!content) {
      res.status(404).end();
      return;
    }
    res.type('application/fhir+json').send(JSON.stringify(content));
  });
  const server = app.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const ready: ReferenceHandlerReady = { port: typeof address === 'object' && address ? address.port : 0 };
    process.stdout.write(`${JSON.stringify(ready)}\n`);
  });
  process.once('SIGTERM', () => {
    server.close();
    void pool.end().then(() => process.exit(0));
  });
}

main();
