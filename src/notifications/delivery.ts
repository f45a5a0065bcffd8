/**
 * Delivering notifications, as the jobs of the delivery queue (queue.ts): a subscription's job sends
 * what is due, one thing at a time and in order — the handshake, then its oldest unsent notification
 * (a later one waits while an earlier one is retried), or a heartbeat when one is due — until
 * nothing is. Before each post the authorization is checked again — still live, still offline, still holding
 * the Subscription rule, still allowing the app to read the changed type — so nothing is ever sent after
 * access ended or about a type the app may no longer read. A failed post fails the job, which pg-boss
 * retries after about 1, 2, 4 and 8 seconds; the fifth failure puts the subscription in `error`,
 * which `$status` tells the app. The relay sends the jobs of subscriptions with work due and none.
 * https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/notifications.html
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { AuthorizationService } from '../authorizations/service';
import type { Database } from '../db';
import type { Listener } from '../feature';
import { allows, permissionsOf } from '../fhir/access';
import { isRecordType } from '../rules/catalogue';
import { SUBSCRIPTION_SCOPE, splitScopes } from '../rules/scopes';
import { isInternalAddress } from '../security/addresses';
import { notificationBundle, subscriptionStatus, type NotificationType, type StoredSubscription } from './resource';
import { endpointRefusal, storedSubscription } from './service';
import { DELIVERY_RETRIES, type DeliveryJob, type NotificationQueue } from './queue';
import type { DeliveryOutcome, NotificationRow, SubscriptionRow, SubscriptionStore } from './store';

/** Attempts before a subscription goes to `error`. */
const MAX_ATTEMPTS = DELIVERY_RETRIES + 1;
/** How long one post may take. */
const POST_TIMEOUT_MS = 10_000;
/** A job starts no post after this long (well within its expiry), and leaves the rest to a job of its own. */
const JOB_SECONDS = 15;
/** Subscriptions the relay sends jobs for at once. */
const RELAY_BATCH = 100;
/** A queue mark this old has lost its job (past every retry and expiry): the relay sends another. */
const STALE_MARK_SECONDS = 120;
type Deps = {
  db: Pick<Database, 'transaction'>;
  store: SubscriptionStore;
  queue: NotificationQueue;
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

export function createDelivery({ db, store, queue, authorizations, fhirBase, allowPrivate, keyEncryptionSecret }: Deps) {
  /** After a failed attempt: retried by the queue, or `error` once the attempts are spent. */
  const failed = (retryCount: number, why: string): DeliveryOutcome => {
    const attempts = retryCount + 1;
    if (attempts >= MAX_ATTEMPTS)
      return { status: 'error', attempts, error: `Notifications stopped after ${attempts} failed attempts. ${why}`, total: 'failed', finished: true };
    return { attempts, error: why, total: 'retried' };
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

  const heartbeatDue = (row: SubscriptionRow) =>
    row.heartbeat_seconds !== null && (row.last_sent_at ?? row.created_at).getTime() < Date.now() - row.heartbeat_seconds * 1000;

  /** A failed post: recorded, and thrown so the queue tries the job again later (unless the attempts are spent). */
  class RetryLater extends Error {}

  /** One delivery job: what is due for its subscription, in order, until nothing is or its time is up. */
  const deliver = async ({ subscription: job, retryCount }: DeliveryJob): Promise<void> => {
    const started = Date.now();
    for (;;) {
      const row = await store.due(job);
      // Deleted or rewritten since (the rewrite sent a job of its own), or no longer delivering.
      if (!row) return;
      const finish = (outcome: DeliveryOutcome) => store.release(job, { ...outcome, finished: true });
      if (row.status === 'off' || row.status === 'error') {
        await finish({});
        return;
      }
      if (Date.now() - started > JOB_SECONDS * 1000) {
        // Time for a job of its own: sent before this one ends, so the subscription is never without one.
        await queue.send(job);
        return;
      }
      const authorization = await authorizations.findById(row.authorization_id);
      const scopes = authorization?.access === 'offline' ? splitScopes(authorization.scope) : [];
      if (!scopes.includes(SUBSCRIPTION_SCOPE)) {
        await finish({ status: 'off' });
        return;
      }
      const sent = { attempts: 0, error: null, last_sent_at: new Date() };
      const event = row.next;
      let outcome: DeliveryOutcome;
      if (row.status === 'requested') {
        const result = await send(row, 'handshake');
        outcome = result.ok ? { status: 'active', ...sent } : failed(retryCount, result.why);
      } else if (event && (!isRecordType(event.type) || !allows(permissionsOf(scopes), event.type, 'r'))) {
        // A type the app may not (or no longer) read: passed over, never named to it.
        outcome = { done: { notificationId: event.id, counted: false } };
      } else if (event) {
        const result = await send(row, 'event-notification', event);
        outcome = result.ok
          ? { ...sent, done: { notificationId: event.id, counted: true }, total: 'sent', lagSeconds: (Date.now() - event.occurred_at.getTime()) / 1000 }
          : failed(retryCount, result.why);
      } else if (heartbeatDue(row)) {
        const result = await send(row, 'heartbeat');
        outcome = result.ok ? sent : failed(retryCount, result.why);
      } else {
        await finish({});
        return;
      }
      await store.release(job, outcome);
      if (outcome.finished) return;
      if (outcome.total === 'retried') throw new RetryLater(outcome.error ?? 'The delivery failed.');
      if (retryCount > 0) {
        // Through after a retry: what follows gets a job with attempts of its own.
        await queue.send(job);
        return;
      }
    }
  };

  /** Ends subscriptions whose authorization ended, and sends the jobs of those with work due and none. */
  const relay = async (): Promise<void> => {
    await store.turnOffEnded();
    if (!(await store.anyWaiting(STALE_MARK_SECONDS))) return;
    await db.transaction(async () => {
      for (const subscription of await store.queueDue(RELAY_BATCH, STALE_MARK_SECONDS)) await queue.send(subscription);
    });
  };

  const listener: Listener = {
    name: 'notifications',
    start: () => queue.start({ deliver, relay }),
    close: () => queue.stop(),
  };
  return { listener, kickRelay: () => queue.kickRelay() };
}
