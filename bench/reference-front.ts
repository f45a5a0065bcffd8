/**
 * Reference (c): what carevault's front (src/http/front.ts) costs per request, apart from any
 * work a request describes. Serves one trivial answer (200, two bytes) behind the front steps
 * named on the command line — `log` (the request log), `metrics` (the request timer),
 * `headers` (the security headers), `no-store` — or behind none: a bare Node HTTP server, the
 * same code with nothing in front. The bench runs one process per set, each measured alone,
 * so the difference in CPU per request is each layer's cost. Prints one JSON line (port),
 * serves until killed.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Database } from '../src/db';
import { createFront, type FrontStep } from '../src/http/front';
import { requestLog } from '../src/http/request-log';
import { setLogLevel } from '../src/log';
import { createMetrics } from '../src/metrics/registry';
import { timeRequests } from '../src/metrics/requests';
import { securityHeaders } from '../src/security/headers';
import { noStore } from '../src/security/no-store';
import { FRONT_LAYERS, type FrontLayer } from './report';

export type ReferenceFrontReady = { port: number };

function stepOf(layer: FrontLayer): FrontStep {
  switch (layer) {
    case 'log':
      return requestLog;
    case 'metrics':
      // The stored-state gauges read the database only when scraped; nothing scrapes here.
      return timeRequests(createMetrics(undefined as unknown as Database));
    case 'headers':
      return securityHeaders(false);
    case 'no-store':
      return noStore('/static');
  }
}

function answer(_req: IncomingMessage, res: ServerResponse): void {
  res.statusCode = 200;
  res.setHeader('Content-Type', 'text/plain');
  res.end('ok');
}

function main(): void {
  // As the bench runs carevault (LOG_LEVEL=error): successful requests are not written.
  setLogLevel('error');
  const layers = (process.argv[2] ?? '').split(',').filter((name): name is FrontLayer => (FRONT_LAYERS as readonly string[]).includes(name));
  const listener =
    layers.length === 0 ? answer : createFront({ steps: layers.map(stepOf), direct: () => false, provider: () => Promise.resolve(), app: answer });
  const server = createServer(listener).listen(0, '127.0.0.1');
  server.once('listening', () => {
    const address = server.address();
    const ready: ReferenceFrontReady = { port: typeof address === 'object' && address ? address.port : 0 };
    process.stdout.write(`${JSON.stringify(ready)}\n`);
  });
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
}

main();
