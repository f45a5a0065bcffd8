/**
 * What change-notification tests share: an app that subscribes, a real HTTP endpoint on 127.0.0.1
 * that records what it is sent (and can refuse or hold posts), a Subscription body, and the
 * SubscriptionStatus of a notification read back.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CALLBACK } from './app';

export const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';

export const CHANGE_WATCHER = {
  client_name: 'Change Watcher',
  redirect_uris: [CALLBACK],
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['authorization_code', 'refresh_token'],
  rules: [
    { scope: 'patient/Observation.rs', required: true, reason: 'Chart your weight' },
    { scope: 'patient/Subscription.cruds', required: true, reason: 'Learn when your record changes' },
    { scope: 'offline_access', required: true, reason: 'Work while you are away' },
  ],
};

export type Received = { path: string; headers: http.IncomingHttpHeaders; body: any };

/**
 * The app's endpoint: records each post it answers 200; answers 503 to the next `failures` posts
 * and to every post at a path in `down`; and answers nothing (the post stays open, as a slow
 * endpoint's would) while `holding`, or to a post at a path in `slow`.
 */
export function startReceiver() {
  const received: Received[] = [];
  const state = { failures: 0, refused: 0, holding: false, held: 0, down: new Set<string>(), downPosts: 0, slow: new Set<string>(), slowPosts: 0 };
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
    req.on('end', () => {
      if (state.holding) {
        state.held += 1;
        return;
      }
      if (state.slow.has(req.url ?? '')) {
        state.slowPosts += 1;
        return;
      }
      if (state.down.has(req.url ?? '')) {
        state.downPosts += 1;
        res.statusCode = 503;
        res.end();
        return;
      }
      if (state.failures > 0) {
        state.failures -= 1;
        state.refused += 1;
        res.statusCode = 503;
        res.end();
        return;
      }
      received.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(data) });
      res.statusCode = 200;
      res.end();
    });
  });
  return {
    received,
    state,
    async start(): Promise<string> {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, seconds = 20): Promise<T> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`waited ${seconds} s for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A Subscription to the record-changed topic of `issuer`, posting to `endpoint`. */
export function subscriptionTo(issuer: string, endpoint: string, options: { filter?: string; content?: string; header?: string[] } = {}) {
  return {
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'Chart new weights',
    criteria: `${issuer}/fhir/SubscriptionTopic/record-changed`,
    ...(options.filter ? { _criteria: { extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: options.filter }] } } : {}),
    channel: {
      type: 'rest-hook',
      endpoint,
      payload: 'application/fhir+json',
      _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: options.content ?? 'id-only' }] },
      ...(options.header ? { header: options.header } : {}),
    },
  };
}

export type NotificationStatus = { type: string; status: string; since: string; events: { number: string; focus: string | undefined }[] };

/** The SubscriptionStatus (R4: Parameters) a notification Bundle starts with, in short. */
export function statusOf(bundle: any): NotificationStatus {
  if (bundle?.resourceType !== 'Bundle') throw new Error(`not a Bundle: ${JSON.stringify(bundle)}`);
  const parameters = bundle.entry[0].resource;
  if (parameters.resourceType !== 'Parameters') throw new Error(`the Bundle does not start with Parameters: ${JSON.stringify(bundle)}`);
  const value = (name: string) => parameters.parameter.find((item: any) => item.name === name);
  return {
    type: value('type').valueCode,
    status: value('status').valueCode,
    since: value('events-since-subscription-start').valueString,
    events: parameters.parameter
      .filter((item: any) => item.name === 'notification-event')
      .map((item: any) => ({
        number: item.part.find((part: any) => part.name === 'event-number').valueString,
        focus: item.part.find((part: any) => part.name === 'focus')?.valueReference.reference,
      })),
  };
}

/** The event notifications `received` at `path`, in the order they came. */
export function notificationsAt(received: readonly Received[], path: string): Received[] {
  return received.filter((item) => item.path === path && statusOf(item.body).type === 'event-notification');
}

/** A FHIR request with an app's token; the body parsed. */
export async function fhirCall(base: string, token: string, path: string, init: { method?: string; body?: unknown } = {}) {
  const res = await fetch(`${base}/fhir${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { authorization: `Bearer ${token}`, ...(init.body === undefined ? {} : { 'content-type': 'application/fhir+json' }) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
