/**
 * Delivering notifications: each instance polls the queue kept on the subscription rows
 * (store.ts: a claim under a lease, `FOR UPDATE SKIP LOCKED`), so any number of instances share the
 * work and each notification goes out from one of them; a killed instance's claim runs out and the
 * notification is sent by the next (at least once). Per subscription, one thing at a time and in
 * order: the handshake, then its oldest unsent notification (a later one waits while an earlier one
 * is retried), or a heartbeat when one is due. Before each post the authorization is checked again
 * — still live, still holding the Subscription rule, still allowing the app to read the changed
 * type — so nothing is ever sent after access ended or about a type the app may no longer read.
 * A failed post is tried again after 1, 2, 4 and 8 seconds; the fifth failure puts the
 * subscription in `error`, which `$status` tells the app.
 * https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/notifications.html
 */
import { randomUUID } from 'node:crypto';
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { AuthorizationService } from '../authorizations/service';
import type { Listener } from '../feature';
import { allows, permissionsOf } from '../fhir/access';
import { isRecordType } from '../rules/catalogue';
import { SUBSCRIPTION_SCOPE, splitScopes } from '../rules/scopes';
import { describeError, log } from '../log';
import { isInternalAddress } from '../security/addresses';
import { notificationBundle, subscriptionStatus, type NotificationType, type StoredSubscription } from './resource';
import { endpointRefusal, storedSubscription } from './service';
import type { ClaimedSubscription, DeliveryOutcome, NotificationRow, SubscriptionRow, SubscriptionStore } from './store';

/** Attempts before a subscription goes to `error`. */
const MAX_ATTEMPTS = 5;
/** Seconds before the next attempt, after each failed one. */
const BACKOFF_SECONDS = [1, 2, 4, 8];
/** How long one post may take. */
const POST_TIMEOUT_MS = 10_000;
/** How long a claim holds a subscription: past a post's timeout, and what a killed instance's claim delays its notification by. */
const LEASE_SECONDS = 20;
/** How often each instance looks for work. */
const POLL_MS = 500;
/** Ended authorizations are looked for every this many polls. */
const ENDINGS_EVERY = 4;
type Deps = {
  store: SubscriptionStore;
  authorizations: Pick<AuthorizationService, 'findById'>;
  fhirBase: string;
  allowPrivate: boolean;
  keyEncryptionSecret: string | undefined;
};

/** What one post did: answered 2xx, or why not. */
type PostResult = { ok: true } | { ok: false; why: string };

/** An endpoint's connection refused for its address. */
class InternalAddress extends Error {}

/**
 * `dns.lookup` for the endpoint's connection that refuses internal addresses: judged on the
 * addresses the connection is made to, so a name whose answer changes after the check at creation
 * (DNS rebinding) gains nothing.
 */
const publicLookup: net.LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) {
      callback(error, '', 0);
      return;
    }
    if (addresses.length === 0 || addresses.some((entry) => isInternalAddress(entry.address))) {
      callback(new InternalAddress(`${hostname} resolves to a loopback, private or link-local address.`), '', 0);
      return;
    }
    const [first] = addresses;
    if (options.all) (callback as unknown as (error: null, addresses: dns.LookupAddress[]) => void)(null, addresses);
    else callback(null, first?.address ?? '', first?.family ?? 4);
  });
};

/** The channel's `Name: value` lines as request headers (a name given twice: its values joined). */
function headersOf(lines: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}

/** POSTs `bundle` to the Subscription's endpoint with its headers; redirects are not followed (they could lead anywhere). */
async function post(subscription: StoredSubscription, bundle: Record<string, unknown>, allowPrivate: boolean): Promise<PostResult> {
  const refusal = await endpointRefusal(subscription.endpoint, allowPrivate);
  if (refusal) return { ok: false, why: refusal };
  const body = JSON.stringify(bundle);
  const client = subscription.endpoint.protocol === 'https:' ? https : http;
  return new Promise<PostResult>((resolve) => {
    let settled = false;
    const settle = (result: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const timer = setTimeout(() => {
      request?.destroy();
      settle({ ok: false, why: 'The endpoint did not answer in time.' });
    }, POST_TIMEOUT_MS);
    let request: http.ClientRequest | undefined;
    try {
      request = client.request(
        subscription.endpoint,
        {
          method: 'POST',
          headers: { ...headersOf(subscription.headers), 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(body) },
          ...(allowPrivate ? {} : { lookup: publicLookup }),
        },
        (res) => {
          const status = res.statusCode ?? 0;
          res.resume();
          res.on('end', () => settle(status >= 200 && status < 300 ? { ok: true } : { ok: false, why: `The endpoint answered ${status}.` }));
          res.on('error', () => settle({ ok: false, why: 'The endpoint did not finish its answer.' }));
        },
      );
    } catch {
      settle({ ok: false, why: "The Subscription's headers cannot be sent." });
      return;
    }
    request.on('error', (error) => settle({ ok: false, why: error instanceof InternalAddress ? error.message : 'The endpoint could not be reached.' }));
    request.end(body);
  });
}

export function createDelivery({ store, authorizations, fhirBase, allowPrivate, keyEncryptionSecret }: Deps) {
  /** After a failed attempt: later, or `error` once the attempts are spent. */
  const failed = (row: SubscriptionRow, why: string): DeliveryOutcome => {
    const attempts = row.attempts + 1;
    if (attempts >= MAX_ATTEMPTS)
      return { status: 'error', attempts, error: `Notifications stopped after ${attempts} failed attempts. ${why}`, total: 'failed' };
    return { attempts, error: why, retryInSeconds: BACKOFF_SECONDS[attempts - 1] ?? BACKOFF_SECONDS.at(-1), total: 'retried' };
  };

  const send = async (row: SubscriptionRow, type: NotificationType, event?: NotificationRow) => {
    const subscription = await storedSubscription(row, keyEncryptionSecret);
    const number = Number(row.events_since_start) + 1;
    const status = subscriptionStatus(
      {
        ...subscription,
        status: type === 'handshake' ? 'requested' : 'active',
        eventsSinceStart: event ? number : Number(row.events_since_start),
        error: undefined,
      },
      fhirBase,
      type,
      event ? [{ number, type: event.type, resourceId: event.resource_id, occurredAt: event.occurred_at }] : [],
    );
    return post(subscription, notificationBundle(status, new Date()), allowPrivate);
  };

  /** One claimed subscription's due work, and the claim ended. */
  const deliver = async (row: ClaimedSubscription): Promise<void> => {
    const authorization = await authorizations.findById(row.authorization_id);
    const scopes = authorization ? splitScopes(authorization.scope) : [];
    if (!scopes.includes(SUBSCRIPTION_SCOPE)) {
      await store.release(row, { status: 'off' });
      return;
    }
    const sent = { attempts: 0, error: null, last_sent_at: new Date() };
    if (row.status === 'requested') {
      const result = await send(row, 'handshake');
      await store.release(row, result.ok ? { status: 'active', ...sent } : failed(row, result.why));
      return;
    }
    const event = row.next;
    if (!event) {
      const result = await send(row, 'heartbeat');
      await store.release(row, result.ok ? sent : failed(row, result.why));
      return;
    }
    if (!isRecordType(event.type) || !allows(permissionsOf(scopes), event.type, 'r')) {
      // A type the app may not (or no longer) read: passed over, never named to it.
      await store.release(row, { done: { notificationId: event.id, counted: false } });
      return;
    }
    const result = await send(row, 'event-notification', event);
    await store.release(
      row,
      result.ok
        ? { ...sent, done: { notificationId: event.id, counted: true }, total: 'sent', lagSeconds: (Date.now() - event.occurred_at.getTime()) / 1000 }
        : failed(row, result.why),
    );
  };

  let stopping = false;

  /** Delivers what is due until nothing is (or the server closes); returns how many claims it worked through. */
  const deliverDue = async (): Promise<number> => {
    let done = 0;
    while (!stopping) {
      const row = await store.claim(randomUUID(), LEASE_SECONDS);
      if (!row) break;
      await deliver(row);
      done += 1;
    }
    return done;
  };

  let polls = 0;
  const poll = async (): Promise<number> => {
    polls += 1;
    if (polls % ENDINGS_EVERY === 1) await store.turnOffEnded();
    return deliverDue();
  };

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let busy = false;
  const listener: Listener = {
    name: 'notifications',
    async start() {
      timer = setInterval(() => {
        if (busy) return;
        busy = true;
        running = poll()
          .catch((error: unknown) => log.warn('notification delivery failed', describeError(error)))
          .finally(() => {
            busy = false;
          });
      }, POLL_MS);
      timer.unref();
    },
    async close() {
      stopping = true;
      clearInterval(timer);
      await running;
    },
  };
  return { listener, poll };
}
