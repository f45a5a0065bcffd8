/**
 * Every test server's log is searched, when it stops, for the credentials the server handed out:
 * every access, refresh and registration access token, authorization and device code, user code,
 * pushed request, client secret and session id that left it in a response, recorded as the
 * response is written (the database keeps only their hashes). No log line may carry one; this
 * makes every test file that starts a server a check of it, whatever the file itself is about.
 */
import type http from 'node:http';

/** Response fields that carry a credential, and what each is. */
const JSON_FIELDS: Readonly<Record<string, string>> = {
  access_token: 'AccessToken',
  refresh_token: 'RefreshToken',
  device_code: 'DeviceCode',
  user_code: 'UserCode',
  registration_access_token: 'RegistrationAccessToken',
  client_secret: 'ClientSecret',
  request_uri: 'PushedAuthorizationRequest',
};
/** The longest JSON answer read for credentials (token responses are a few kilobytes). */
const MAX_BODY = 256 * 1024;
/** Shorter values could match by chance. */
const MIN_LENGTH = 16;

/** Credentials handed out, with what each is. */
type HandedOut = Map<string, string>;

function remember(handedOut: HandedOut, value: unknown, kind: string): void {
  if (typeof value !== 'string') return;
  // A pushed request's id is the last part of its URN; a user code is also typed without dashes.
  const forms = kind === 'PushedAuthorizationRequest' ? [value.split(':').at(-1) ?? ''] : kind === 'UserCode' ? [value, value.replace(/-/g, '')] : [value];
  for (const form of forms) if (form.length >= MIN_LENGTH) handedOut.set(form, kind);
}

function rememberResponse(handedOut: HandedOut, res: http.ServerResponse, body: Buffer[]): void {
  const location = res.getHeader('location');
  if (typeof location === 'string') {
    try {
      remember(handedOut, new URL(location, 'http://localhost').searchParams.get('code') ?? undefined, 'AuthorizationCode');
    } catch {
      // not a URL: nothing to remember
    }
  }
  const cookies = res.getHeader('set-cookie');
  for (const cookie of Array.isArray(cookies) ? cookies : []) {
    const session = /^_session=([^;]+)/.exec(cookie)?.[1];
    if (session) remember(handedOut, session, 'Session');
  }
  if (body.length === 0) return;
  try {
    const json = JSON.parse(Buffer.concat(body).toString('utf8')) as Record<string, unknown>;
    for (const [field, kind] of Object.entries(JSON_FIELDS)) remember(handedOut, json[field], kind);
  } catch {
    // not JSON after all
  }
}

/** Records the credentials in every response `server` writes from now on. */
function watchResponses(server: http.Server, handedOut: HandedOut): void {
  server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    const body: Buffer[] = [];
    let size = 0;
    const keep = (chunk: unknown) => {
      if (chunk === undefined || chunk === null || typeof chunk === 'function' || size > MAX_BODY) return;
      if (!String(res.getHeader('content-type') ?? '').includes('json')) return;
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
      size += buffer.length;
      if (size <= MAX_BODY) body.push(buffer);
    };
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => http.ServerResponse;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      keep(chunk);
      return write(chunk, ...rest);
    }) as typeof res.write;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      keep(chunk);
      rememberResponse(handedOut, res, body);
      return end(chunk, ...rest);
    }) as typeof res.end;
  });
}

let written = '';
let teed = false;

/** From here on, what this process writes to stderr is also kept (and still shown). */
function tee(): void {
  if (teed) return;
  teed = true;
  const original = process.stderr.write.bind(process.stderr) as (...args: unknown[]) => boolean;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    written += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return original(chunk, ...rest);
  }) as typeof process.stderr.write;
}

/**
 * Marks where a server's log begins; `watch(server)` records what the server hands out, and
 * `check()` later searches the log from the mark for any of it.
 */
export function watchLogForCredentials(): { watch(server: http.Server): void; check(): void } {
  tee();
  const from = written.length;
  const handedOut: HandedOut = new Map();
  return {
    watch: (server) => watchResponses(server, handedOut),
    check() {
      const log = written.slice(from);
      if (log === '') return;
      const leaked = [...handedOut].filter(([value]) => log.includes(value));
      if (leaked.length > 0) {
        throw new Error(`the server's log holds ${leaked.length} credential(s): ${[...new Set(leaked.map(([, kind]) => kind))].join(', ')}`);
      }
    },
  };
}
