/**
 * The request log (src/http/request-log.ts) in front of a bare Node server, as the front runs it:
 * each response carries an id (the caller's when it is a plain token), each failure is one line
 * when the response ends — a noted cause, a 5xx, a response cut off after its headers, an error
 * on the response — with the path but never the query, and successes are written only when
 * `debug` is on.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createFront } from '../../src/http/front';
import { noteFailure, requestIdOf, requestLog } from '../../src/http/request-log';
import { setLogLevel } from '../../src/log';
import { captureLogs, type CapturedLogs } from '../support/logs';

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

let server: Server;
let base: string;
let logs: CapturedLogs;
/** What the server behind the request log does with the next requests. */
let handle: Handler = (_req, res) => {
  res.end('ok');
};

beforeAll(async () => {
  const front = createFront({
    steps: [requestLog],
    direct: (path) => path.startsWith('/direct'),
    provider: async (req, res) => handle(req, res),
    app: (req, res) => void handle(req, res),
  });
  server = createServer(front);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  logs = captureLogs();
});

afterEach(() => {
  logs.stop();
  setLogLevel('info');
  handle = (_req, res) => {
    res.end('ok');
  };
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The log's lines, once the response's end has had time to be logged. */
async function lines(): Promise<Record<string, unknown>[]> {
  await new Promise((resolve) => setTimeout(resolve, 50));
  return logs.entries();
}

test('each response carries a request id: a plain one offered is kept, anything else is replaced', async () => {
  const kept = await fetch(`${base}/a`, { headers: { 'x-request-id': 'lb-7f3a.92:1' } });
  expect(kept.headers.get('x-request-id')).toBe('lb-7f3a.92:1');
  const fresh = [await fetch(`${base}/a`), await fetch(`${base}/a`)].map((res) => res.headers.get('x-request-id'));
  expect(fresh[0]).toMatch(UUID);
  expect(fresh[1]).toMatch(UUID);
  expect(fresh[0]).not.toBe(fresh[1]);
  for (const offered of ['not "a" plain id', 'a'.repeat(65), 'semi;colon', '']) {
    const replaced = await fetch(`${base}/a`, { headers: { 'x-request-id': offered } });
    expect(replaced.headers.get('x-request-id')).toMatch(UUID);
  }
  expect((await fetch(`${base}/a`, { headers: { 'x-request-id': 'a'.repeat(64) } })).headers.get('x-request-id')).toBe('a'.repeat(64));
  // Other log lines about the request name the same id.
  handle = (_req, res) => {
    res.end(requestIdOf(res));
  };
  const echoed = await fetch(`${base}/a`);
  expect(await echoed.text()).toBe(echoed.headers.get('x-request-id'));
});

test('a failure is one line with the id, method, path without its query, status, cause and route', async () => {
  handle = (_req, res) => {
    noteFailure(res, new Error('the first cause'), 'token');
    noteFailure(res, new Error('a later cause'), 'other');
    res.statusCode = 502;
    res.end('no');
  };
  const response = await fetch(`${base}/direct/token?code=SECRET-CODE-123&state=xyz`, { method: 'POST', body: 'a=b' });
  expect(response.status).toBe(502);
  const id = response.headers.get('x-request-id');
  const written = await lines();
  expect(written).toHaveLength(1);
  expect(written[0]).toMatchObject({
    level: 'error',
    message: 'request failed',
    request_id: id,
    req: { method: 'POST', path: '/direct/token' },
    res: { status: 502 },
    err: { error: 'Error', detail: 'the first cause' },
    route: 'token',
  });
  expect(written[0]?.duration_ms).toEqual(expect.any(Number));
  expect(Object.keys(written[0]?.req as object).sort()).toEqual(['method', 'path']);
  expect(logs.text()).not.toContain('SECRET-CODE-123');
  expect(logs.text()).not.toContain('state=');
});

test('a 5xx with no cause noted is logged once, without a route; a 4xx or a success is not logged', async () => {
  handle = (req, res) => {
    res.statusCode = req.url === '/broken' ? 500 : req.url === '/refused' ? 404 : 200;
    res.end();
  };
  const [broken, refused, fine] = [await fetch(`${base}/broken`), await fetch(`${base}/refused`), await fetch(`${base}/fine`)];
  expect([broken.status, refused.status, fine.status]).toEqual([500, 404, 200]);
  const written = await lines();
  expect(written).toHaveLength(1);
  expect(written[0]).toMatchObject({
    message: 'request failed',
    request_id: broken.headers.get('x-request-id'),
    req: { method: 'GET', path: '/broken' },
    res: { status: 500 },
    err: { detail: 'failed with status code 500' },
  });
  expect(written[0]).not.toHaveProperty('route');
});

test('a step that fails is answered with a 500 and logged once with its cause', async () => {
  handle = () => {
    throw new Error('a bug in a step');
  };
  const response = await fetch(`${base}/direct/boom`);
  expect(response.status).toBe(500);
  const written = await lines();
  expect(written).toHaveLength(1);
  expect(written[0]).toMatchObject({ message: 'request failed', res: { status: 500 }, err: { detail: 'a bug in a step' } });
});

test('a response cut off after its headers is logged once, when it closes, with its cause', async () => {
  handle = async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('part of the answer');
    await new Promise((resolve) => setTimeout(resolve, 10));
    throw new Error('failed half way');
  };
  const response = await fetch(`${base}/direct/stream?token=SECRET-TOKEN-456`);
  expect(response.status).toBe(200);
  await expect(response.text()).rejects.toThrow();
  const written = await lines();
  expect(written).toHaveLength(1);
  expect(written[0]).toMatchObject({
    message: 'request failed',
    request_id: response.headers.get('x-request-id'),
    req: { method: 'GET', path: '/direct/stream' },
    res: { status: 200 },
    err: { detail: 'failed half way' },
  });
  expect(logs.text()).not.toContain('SECRET-TOKEN-456');
});

test('an error on the response before it closes (a write after its end) is its cause, logged once', async () => {
  handle = (_req, res) => {
    res.end('ok');
    res.write('more');
  };
  const response = await fetch(`${base}/late`);
  expect(await response.text()).toBe('ok');
  const written = await lines();
  expect(written).toHaveLength(1);
  expect(written[0]).toMatchObject({ message: 'request failed', res: { status: 200 }, err: { code: 'ERR_STREAM_WRITE_AFTER_END' } });
});

test('a long path is cut at 200 characters', async () => {
  handle = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  await fetch(`${base}/${'p'.repeat(300)}?q=1`);
  const written = await lines();
  expect(written).toHaveLength(1);
  expect((written[0]?.req as { path: string }).path).toBe(`/${'p'.repeat(199)}…`);
});

test('successes are written at debug only, as one line each', async () => {
  await fetch(`${base}/quiet`);
  expect(await lines()).toEqual([]);
  setLogLevel('debug');
  const response = await fetch(`${base}/loud?secret=SECRET-789`);
  const written = await lines();
  expect(written).toHaveLength(1);
  expect(written[0]).toMatchObject({
    level: 'debug',
    message: 'request completed',
    request_id: response.headers.get('x-request-id'),
    req: { method: 'GET', path: '/loud' },
    res: { status: 200 },
  });
  expect(written[0]).not.toHaveProperty('err');
  expect(logs.text()).not.toContain('SECRET-789');
});
