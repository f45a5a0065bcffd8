/**
 * An app's Subscriptions in the record its token reaches: create, read, search, update, delete and
 * `$status`, only its own. A Subscription is tied to the authorization it was made under and ends
 * with it. A new or changed one starts `requested` with its delivery job sent in the same transaction:
 * the delivery (delivery.ts) posts the handshake and makes it `active`. Its endpoint must be https on public addresses (resolved now and again at
 * each delivery) unless SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS; its headers are kept sealed.
 * https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/
 */
import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/service';
import type { AuthorizationService } from '../authorizations/service';
import type { Database } from '../db';
import { InvalidResource, ResourceNotFound, VersionConflict } from '../fhir/errors';
import { NotAllowed } from '../errors';
import { isUuid } from '../ids';
import { SUBSCRIPTION_SCOPE, splitScopes } from '../rules/scopes';
import { openSecret, sealSecret } from '../security/secrets';
import { resolvesInternally } from '../security/addresses';
import { parseSubscription, subscriptionStatus, type StoredSubscription, type SubscriptionRequest } from './resource';
import type { NotificationQueue } from './queue';
import type { SubscriptionFields, SubscriptionRow, SubscriptionStore } from './store';
import { RECORD_TYPES, type RecordType } from '../rules/catalogue';
import { allows, permissionsOf } from '../fhir/access';

/** Whose Subscriptions: the app and the record its token reaches. */
/** The app, the record its token reaches, and the grant behind the token (whose authorization the Subscription follows). */
export type SubscriptionOwner = { clientId: string; recordId: string; grantId: string | undefined };

type Deps = {
  db: Database;
  audit: Pick<AuditLog, 'append'>;
  store: SubscriptionStore;
  queue: Pick<NotificationQueue, 'send'>;
  authorizations: Pick<AuthorizationService, 'findByGrant'>;
  fhirBase: string;
  allowPrivate: boolean;
  keyEncryptionSecret: string | undefined;
};

/** Refuses an endpoint whose host is internal (or does not resolve), unless private endpoints are allowed. */
export async function endpointRefusal(endpoint: URL, allowPrivate: boolean): Promise<string | undefined> {
  if (allowPrivate) return undefined;
  try {
    if (await resolvesInternally(endpoint.hostname))
      return `${endpoint.host} is a loopback, private or link-local address; notifications go to public https endpoints.`;
  } catch {
    return `${endpoint.host} does not resolve.`;
  }
  return undefined;
}

/** A stored row as the app's Subscription, its headers opened. */
export async function storedSubscription(row: SubscriptionRow, keyEncryptionSecret: string | undefined): Promise<StoredSubscription> {
  return {
    id: row.id,
    status: row.status,
    error: row.error ?? undefined,
    versionId: row.version_id,
    lastUpdated: row.updated_at,
    eventsSinceStart: Number(row.events_since_start),
    reason: row.reason,
    endpoint: new URL(row.endpoint),
    headers: JSON.parse(await openSecret(row.headers, keyEncryptionSecret)) as string[],
    content: row.content,
    filterType: (row.filter_type ?? undefined) as RecordType | undefined,
    heartbeatSeconds: row.heartbeat_seconds ?? undefined,
  };
}

/** What the record's history keeps of a Subscription: its id and the type it is filtered on (never its endpoint or headers). */
function auditDetails(row: SubscriptionRow): Record<string, string> {
  return { subscription: row.id, ...(row.filter_type ? { type: row.filter_type } : {}) };
}

export function createSubscriptionService({ db, audit, store, queue, authorizations, fhirBase, allowPrivate, keyEncryptionSecret }: Deps) {
  const accepted = async (body: unknown): Promise<SubscriptionFields> => {
    const request: SubscriptionRequest = parseSubscription(body, fhirBase, allowPrivate);
    const refusal = await endpointRefusal(request.endpoint, allowPrivate);
    if (refusal) throw new InvalidResource(refusal, ['Subscription.channel.endpoint']);
    return {
      reason: request.reason,
      endpoint: request.endpoint.href,
      headers: await sealSecret(JSON.stringify(request.headers), keyEncryptionSecret),
      content: request.content,
      filter_type: request.filterType ?? null,
      heartbeat_seconds: request.heartbeatSeconds ?? null,
    };
  };

  const own = async (owner: SubscriptionOwner, id: string): Promise<SubscriptionRow> => {
    // Ids are UUIDs: any other is none of them (and never reaches the database's uuid column).
    const row = isUuid(id) ? await store.findOwn(id, owner.clientId, owner.recordId) : undefined;
    if (!row) throw new ResourceNotFound('Subscription', id);
    return row;
  };

  return {
    /**
     * A new Subscription of the app in the record, `requested` until its handshake is answered;
     * refused when the app may read nothing it would be notified of.
     */
    async create(owner: SubscriptionOwner, body: unknown): Promise<StoredSubscription> {
      const fields = await accepted(body);
      const found = owner.grantId ? await authorizations.findByGrant(owner.grantId) : undefined;
      const authorization = found?.client_id === owner.clientId && found.record_id === owner.recordId ? found : undefined;
      const scopes = splitScopes(authorization?.scope ?? '');
      if (!authorization || !scopes.includes(SUBSCRIPTION_SCOPE)) {
        throw new NotAllowed('This app is not allowed to be notified of changes to this record.');
      }
      // Notifications are for working while the person is away: an app with access only while they are signed in has none.
      if (authorization.access !== 'offline') {
        throw new NotAllowed('Only an app with offline access can be notified of changes: the person did not keep its access while they are away.');
      }
      const permissions = permissionsOf(scopes);
      if (fields.filter_type && !allows(permissions, fields.filter_type as RecordType, 'r')) {
        throw new InvalidResource(`This app may not read ${fields.filter_type} resources, so it cannot be notified of them.`, ['Subscription.criteria']);
      }
      if (!fields.filter_type && !RECORD_TYPES.some((type) => allows(permissions, type, 'r'))) {
        throw new InvalidResource('This app may read nothing in this record, so there is nothing to notify it of.', ['Subscription.criteria']);
      }
      return db.transaction(async () => {
        const row = await store.insert({
          id: randomUUID(),
          record_id: owner.recordId,
          client_id: owner.clientId,
          authorization_id: authorization.id,
          status: 'requested',
          ...fields,
        });
        await queue.send(row);
        await audit.append({ recordId: owner.recordId, kind: 'notifications.subscribed', clientId: owner.clientId, details: auditDetails(row) });
        return storedSubscription(row, keyEncryptionSecret);
      });
    },

    async read(owner: SubscriptionOwner, id: string): Promise<StoredSubscription> {
      return storedSubscription(await own(owner, id), keyEncryptionSecret);
    },

    async list(owner: SubscriptionOwner): Promise<StoredSubscription[]> {
      return Promise.all((await store.listOwn(owner.clientId, owner.recordId)).map((row) => storedSubscription(row, keyEncryptionSecret)));
    },

    /** Replaces the app's Subscription; it starts again (`requested`, a new handshake). An ended one (`off`) stays ended. */
    async update(owner: SubscriptionOwner, id: string, body: unknown, ifMatch?: number): Promise<StoredSubscription> {
      if (typeof body === 'object' && body !== null && 'id' in body && (body as { id: unknown }).id !== id) {
        throw new InvalidResource(`The body's id must be ${id}, as in the URL.`, ['Subscription.id']);
      }
      const fields = await accepted(body);
      return db.transaction(async () => {
        const row = await own(owner, id);
        if (ifMatch !== undefined && ifMatch !== row.version_id) {
          throw new VersionConflict(`Subscription/${id} has changed: it is at version ${row.version_id}, not ${ifMatch}.`);
        }
        if (row.status === 'off')
          throw new InvalidResource('This Subscription ended with the access it was made under; create a new one.', ['Subscription.status']);
        const rewritten = await store.rewrite(id, fields);
        if (!rewritten) throw new ResourceNotFound('Subscription', id);
        await queue.send(rewritten);
        await audit.append({ recordId: owner.recordId, kind: 'notifications.changed', clientId: owner.clientId, details: auditDetails(rewritten) });
        return storedSubscription(rewritten, keyEncryptionSecret);
      });
    },

    async remove(owner: SubscriptionOwner, id: string): Promise<void> {
      await db.transaction(async () => {
        const row = await own(owner, id);
        await store.remove(id);
        await audit.append({ recordId: owner.recordId, kind: 'notifications.unsubscribed', clientId: owner.clientId, details: auditDetails(row) });
      });
    },

    /** `$status`: the Subscription's SubscriptionStatus (R4: Parameters), type query-status. */
    async status(owner: SubscriptionOwner, id: string): Promise<Record<string, unknown>> {
      const subscription = await storedSubscription(await own(owner, id), keyEncryptionSecret);
      return subscriptionStatus(subscription, fhirBase, 'query-status');
    },
  };
}

export type SubscriptionService = ReturnType<typeof createSubscriptionService>;
